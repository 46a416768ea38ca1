"""VPCs for GKE: the node network (subnet with pod and service ranges, Cloud NAT, Private Google Access,
flow logs) and the extra networks GPU NICs need: one VPC per NIC for A3 Mega (GPUDirect-TCPXO), a gVNIC
VPC plus one RoCE VPC with a subnet per NIC for A3 Ultra (GPUDirect-RDMA).

Compute networks, subnets, routers and firewalls take no labels. Sources: GKE "Maximize GPU network
bandwidth with GPUDirect-TCPXO" and "... GPUDirect RDMA"; the cluster-toolkit blueprints gke-a3-megagpu
and gke-a3-ultragpu; VPC "RDMA network profiles".
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import cast

import pulumi
import pulumi_gcp as gcp

from components.common import ArgProblems
from components.kubernetes.fabric import GKE_GPU_NICS

PODS_RANGE = "pods"
SERVICES_RANGE = "services"
MAX_GPU_NICS = GKE_GPU_NICS
"""The GPU address plan below has room for this many NICs of each kind."""
TCPXO_MTU = 8244
"""MTU of the A3 Mega GPU NIC networks (GKE TCPXO guide, cluster-toolkit gke-a3-megagpu)."""
RDMA_MTU = 8896
"""MTU of the A3 Ultra gVNIC and RoCE networks (GKE GPUDirect RDMA guide)."""
GPU_NIC_PROTOCOLS = ("tcp", "udp", "icmp")


@dataclass(frozen=True)
class GkeNic:
    """One additional node NIC: the VPC and subnet it attaches to and the GKE `Network` object pods name it by."""

    name: str
    """Name of the GKE `Network` / `GKENetworkParamSet` objects (what pod annotations reference)."""
    network: pulumi.Output[str]
    """VPC name."""
    subnetwork: pulumi.Output[str]
    """Subnet name."""
    device_mode: str
    """`NetDevice` (gVNIC, TCPXO) or `RDMA` (ConnectX RoCE)."""


@dataclass(frozen=True, kw_only=True)
class NetworkArgs:
    region: str
    """Region of every subnet."""
    cidr: str = "10.0.0.0/16"
    """Address block of the node network, /8 to /20: the first quarter holds nodes, the second services and
    the upper half pods. Defaults to 10.0.0.0/16 (16k nodes, 16k services, 128 nodes at 110 pods each)."""
    network: pulumi.Input[str] | None = None
    """An existing VPC (name or self link) for the nodes. Defaults to a new one with NAT; with an existing
    VPC no node network, router or NAT is created (GKE then manages the pod and service ranges)."""
    subnetwork: pulumi.Input[str] | None = None
    """The existing subnet of the nodes; required with `network`."""
    gpu_cidr: str = "192.168.0.0/16"
    """Block the GPU NIC subnets are carved from (must not overlap `cidr`): sixteenths 0-7 for TCPXO
    networks, sixteenth 8 for the A3 Ultra gVNIC network, the last quarter split in eight for RoCE subnets.
    Defaults to 192.168.0.0/16, as in Google's guides."""
    tcpxo_networks: int = 0
    """How many one-subnet VPCs to create for A3 Mega GPU NICs (0 to 8). Defaults to none."""
    rdma_zone: str | None = None
    """Zone of the RoCE network profile (`<zone>-vpc-roce`). Defaults to no RDMA networks."""
    rdma_subnets: int = MAX_GPU_NICS
    """Subnets of the RoCE VPC, one per ConnectX NIC, with `rdma_zone`. Defaults to 8 (A3 Ultra)."""
    project: pulumi.Input[str] | None = None
    """Project id, needed only to name the RoCE network profile. Defaults to the provider's project."""
    flow_sampling: float = 0.5
    """Share of node-subnet flows logged to Cloud Logging. Defaults to 0.5."""


def carve_node_network(cidr: str) -> tuple[str, str, str]:
    """(nodes, services, pods) ranges of the node subnet."""
    network = ipaddress.ip_network(cidr)
    lower, upper = network.subnets(prefixlen_diff=1)
    nodes, services = lower.subnets(prefixlen_diff=1)
    return str(nodes), str(services), str(upper)


def carve_gpu_network(gpu_cidr: str) -> tuple[list[str], str, list[str]]:
    """(TCPXO subnets, A3 Ultra gVNIC subnet, RoCE subnets), none overlapping."""
    sixteenths = list(ipaddress.ip_network(gpu_cidr).subnets(prefixlen_diff=4))
    last_quarter = ipaddress.ip_network(f"{sixteenths[12].network_address}/{sixteenths[12].prefixlen - 2}")
    return (
        [str(s) for s in sixteenths[:MAX_GPU_NICS]],
        str(sixteenths[8]),
        [str(s) for s in last_quarter.subnets(prefixlen_diff=3)],
    )


def roce_profile(project: str, zone: str) -> str:
    return f"projects/{project}/global/networkProfiles/{zone}-vpc-roce"


def _block(problems: ArgProblems, path: str, cidr: str, widest: int, narrowest: int):
    try:
        network = ipaddress.ip_network(cidr)
    except ValueError as err:
        problems.check(False, path, f"{cidr!r} — not a CIDR block ({err})")
        return None
    ok = network.version == 4 and widest <= network.prefixlen <= narrowest
    problems.check(ok, path, f"{cidr!r} — give an IPv4 block from /{widest} to /{narrowest}")
    return network if ok else None


def network_problems(problems: ArgProblems, args: NetworkArgs, prefix: tuple[str, ...] = ()) -> None:
    """Record the problems of plain network arguments (used by `GkeCluster` before it registers anything)."""
    existing = args.network is not None
    problems.check(
        existing == (args.subnetwork is not None),
        (*prefix, "subnetwork"),
        "give network and subnetwork together to use an existing VPC",
    )
    nodes = None if existing else _block(problems, ".".join((*prefix, "cidr")), args.cidr, 8, 20)
    gpu_needed = args.tcpxo_networks > 0 or args.rdma_zone is not None
    gpu = _block(problems, ".".join((*prefix, "gpu_cidr")), args.gpu_cidr, 8, 20) if gpu_needed else None
    if nodes is not None and gpu is not None:
        problems.check(
            not nodes.overlaps(gpu),
            (*prefix, "gpu_cidr"),
            f"{args.gpu_cidr!r} — overlaps the node network {args.cidr}; GPU NIC subnets need their own addresses",
        )
    for count_field, count in (("tcpxo_networks", args.tcpxo_networks), ("rdma_subnets", args.rdma_subnets)):
        problems.check(0 <= count <= MAX_GPU_NICS, (*prefix, count_field), f"{count} — give 0 to {MAX_GPU_NICS}")
    if args.rdma_zone is not None:
        problems.check(
            args.rdma_zone.startswith(f"{args.region}-"),
            (*prefix, "rdma_zone"),
            f"{args.rdma_zone!r} — not a zone of {args.region}",
        )


class Network(pulumi.ComponentResource):
    """The node VPC (unless an existing one is given) and the GPU NIC networks the cluster's pools need."""

    network: pulumi.Output[str]
    """Self link of the node VPC (or the existing VPC as given)."""
    subnetwork: pulumi.Output[str]
    """Self link of the node subnet (or the existing subnet as given)."""
    pods_range: str | None
    """Secondary range of pods; None on an existing subnet (GKE creates its own)."""
    services_range: str | None
    tcpxo_nics: tuple[GkeNic, ...]
    """A3 Mega GPU NICs, in NIC order (`vpc1` … `vpc8`)."""
    rdma_nics: tuple[GkeNic, ...]
    """A3 Ultra extra NICs: the second gVNIC (`gvnic-1`) then the RoCE NICs (`rdma-0` … `rdma-7`)."""

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None):
        problems = ArgProblems(name)
        network_problems(problems, args)
        problems.raise_if_any()
        super().__init__("aiinfra:gcp:Network", name, None, opts)
        self._name = name
        self._child = pulumi.ResourceOptions(parent=self)
        self._args = args

        if args.network is None:
            self._node_network()
        else:
            self.network = pulumi.Output.from_input(args.network)
            # Network args that name a network name its subnetwork too.
            self.subnetwork = cast("pulumi.Output[str]", pulumi.Output.from_input(args.subnetwork))
            self.pods_range = self.services_range = None

        tcpxo_cidrs, gvnic_cidr, rdma_cidrs = carve_gpu_network(args.gpu_cidr)
        self.tcpxo_nics = tuple(
            self._gvnic_network(f"gpu{i}", f"vpc{i + 1}", cidr, TCPXO_MTU)
            for i, cidr in enumerate(tcpxo_cidrs[: args.tcpxo_networks])
        )
        self.rdma_nics = ()
        if args.rdma_zone is not None:
            gvnic = self._gvnic_network("gvnic1", "gvnic-1", gvnic_cidr, RDMA_MTU)
            self.rdma_nics = (gvnic, *self._rdma_network(args.rdma_zone, rdma_cidrs[: args.rdma_subnets]))

        self.register_outputs(
            {
                "network": self.network,
                "subnetwork": self.subnetwork,
                "tcpxoNetworks": [n.network for n in self.tcpxo_nics],
                "rdmaNetworks": [n.network for n in self.rdma_nics],
            }
        )

    def _node_network(self) -> None:
        name, args, child = self._name, self._args, self._child
        nodes, services, pods = carve_node_network(args.cidr)
        vpc = gcp.compute.Network(
            f"{name}-vpc",
            auto_create_subnetworks=False,
            routing_mode="REGIONAL",
            description=f"aiinfra {name}: GKE nodes",
            opts=child,
        )
        subnet = gcp.compute.Subnetwork(
            f"{name}-nodes",
            network=vpc.id,
            region=args.region,
            ip_cidr_range=nodes,
            secondary_ip_ranges=[
                {"range_name": PODS_RANGE, "ip_cidr_range": pods},
                {"range_name": SERVICES_RANGE, "ip_cidr_range": services},
            ],
            # Nodes have no external addresses: Google APIs (Artifact Registry, GCS) over Private Google Access.
            private_ip_google_access=True,
            log_config={
                "aggregation_interval": "INTERVAL_5_SEC",
                "flow_sampling": args.flow_sampling,
                "metadata": "INCLUDE_ALL_METADATA",
            },
            opts=child,
        )
        router = gcp.compute.Router(f"{name}-router", network=vpc.id, region=args.region, opts=child)
        gcp.compute.RouterNat(
            f"{name}-nat",
            router=router.name,
            region=args.region,
            nat_ip_allocate_option="AUTO_ONLY",
            source_subnetwork_ip_ranges_to_nat="ALL_SUBNETWORKS_ALL_IP_RANGES",
            log_config={"enable": True, "filter": "ERRORS_ONLY"},
            opts=child,
        )
        self.network = vpc.self_link
        self.subnetwork = subnet.self_link
        self.pods_range, self.services_range = PODS_RANGE, SERVICES_RANGE

    def _gvnic_network(self, role: str, nic: str, cidr: str, mtu: int) -> GkeNic:
        """A one-subnet VPC for a gVNIC, with internal traffic from the GPU block allowed."""
        name, args, child = self._name, self._args, self._child
        vpc = gcp.compute.Network(
            f"{name}-{role}",
            auto_create_subnetworks=False,
            mtu=mtu,
            description=f"aiinfra {name}: GPU NIC network {nic}",
            opts=child,
        )
        subnet = gcp.compute.Subnetwork(
            f"{name}-{role}", network=vpc.id, region=args.region, ip_cidr_range=cidr, opts=child
        )
        gcp.compute.Firewall(
            f"{name}-{role}-internal",
            network=vpc.id,
            direction="INGRESS",
            source_ranges=[args.gpu_cidr],
            allows=[{"protocol": protocol} for protocol in GPU_NIC_PROTOCOLS],
            description=f"GPU-to-GPU traffic between nodes on {nic}",
            opts=child,
        )
        return GkeNic(nic, vpc.name, subnet.name, "NetDevice")

    def _rdma_network(self, zone: str, cidrs: list[str]) -> list[GkeNic]:
        """One RoCE VPC (zonal, by its network profile) with a subnet per ConnectX NIC. RoCE networks take
        no firewall rules: RDMA traffic between their NICs is always allowed."""
        name, args, child = self._name, self._args, self._child
        project = pulumi.Output.from_input(args.project) if args.project is not None else None
        if project is None:
            project = gcp.organizations.get_project_output(opts=pulumi.InvokeOutputOptions(parent=self)).project_id
        vpc = gcp.compute.Network(
            f"{name}-rdma",
            auto_create_subnetworks=False,
            mtu=RDMA_MTU,
            routing_mode="REGIONAL",
            network_profile=project.apply(lambda p: roce_profile(p, zone)),
            description=f"aiinfra {name}: RoCE network for GPUDirect RDMA in {zone}",
            opts=child,
        )
        nics = []
        for i, cidr in enumerate(cidrs):
            subnet = gcp.compute.Subnetwork(
                f"{name}-rdma{i}", network=vpc.id, region=args.region, ip_cidr_range=cidr, opts=child
            )
            nics.append(GkeNic(f"rdma-{i}", vpc.name, subnet.name, "RDMA"))
        return nics
