"""The GCP adapter of `Cluster`: a private GKE Standard cluster (Workload Identity, Dataplane V2, shielded
nodes, secrets encrypted with a rotated Cloud KMS key, a node service account with logging, monitoring and
Artifact Registry read only) on a new `Network` or an existing VPC, with multi-networking and the GPU NIC
networks, GKE Network objects and NCCL plugin DaemonSets that A3 Mega (TCPXO) and A3 Ultra (RDMA) pools
need. Node pools (GPU, TPU slices, CPU) come from `build_node_pool`.

The adapter makes its own Kubernetes provider (`<name>-fabric-k8s`, from its kubeconfig) for the in-cluster
objects of the GPU fabrics, only on clusters that have fabric pools; the facade's provider is made after
the adapter returns, so it cannot be used here.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from aiinfra.core import catalog
from aiinfra.core.catalog import Fabric
from aiinfra.core.catalog.data import DEFAULT_ZONE_COUNT
from components.common import ArgProblems, gcp_labels, merge_tags
from components.contracts import ClusterAdapter, ClusterArgs, NodePoolArgs
from components.gcp.fabric import RDMA_MANIFESTS, TCPXO_MANIFESTS, daemonsets, network_objects
from components.gcp.keys import service_key
from components.gcp.network import GkeNic, Network, NetworkArgs
from components.gcp.node_pool import (
    CLOUD_PLATFORM_SCOPE,
    GkeNodePool,
    GkeNodePoolArgs,
    needs_one_zone,
    pool_problems,
    resolved_zone,
)

NODE_ROLES = (
    "roles/logging.logWriter",
    "roles/monitoring.metricWriter",
    "roles/monitoring.viewer",
)
"""All a GKE node needs (GKE hardening guide, "least privilege service account"); workloads get their
own identities through Workload Identity. Image pulls: `roles/artifactregistry.reader` on exactly the stack's
registry repository (components/gcp/registry.py), not on every repository of the project."""
RELEASE_CHANNEL = "REGULAR"
GPU_CIDR = "192.168.0.0/16"
"""Block the GPU NIC subnets are carved from (see `NetworkArgs.gpu_cidr`)."""
AUTH_PLUGIN = "gke-gcloud-auth-plugin"


def _physical_name(name: str, limit: int) -> str:
    """A GCP resource name: lower-case letters, digits and '-', starting with a letter, at most `limit`
    characters (a hash of the whole name keeps truncated names apart)."""
    clean = re.sub(r"[^a-z0-9-]", "-", name.lower())
    clean = clean if clean[:1].isalpha() else f"a-{clean}"
    if len(clean) > limit:
        clean = f"{clean[: limit - 7].rstrip('-')}-{hashlib.sha256(name.encode()).hexdigest()[:6]}"
    return clean.rstrip("-")


def kubeconfig(cluster_name: str, endpoint: str, ca_data: str) -> str:
    """A kubeconfig that authenticates with `gke-gcloud-auth-plugin`, as `gcloud container clusters
    get-credentials` writes it (JSON, which is YAML)."""
    exec_auth = {
        "apiVersion": "client.authentication.k8s.io/v1beta1",
        "command": AUTH_PLUGIN,
        "installHint": f"Install {AUTH_PLUGIN}: gcloud components install {AUTH_PLUGIN}",
        "provideClusterInfo": True,
        "interactiveMode": "IfAvailable",
    }
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster_name, "cluster": {"server": endpoint, "certificate-authority-data": ca_data}}],
        "contexts": [{"name": cluster_name, "context": {"cluster": cluster_name, "user": cluster_name}}],
        "current-context": cluster_name,
        "users": [{"name": cluster_name, "user": {"exec": exec_auth}}],
    }
    return json.dumps(config, indent=2)


def gpu_nic_count(pool: NodePoolArgs) -> int:
    """GPU NICs of the pool's machine type, from the catalog (0 for machines without a NIC fabric)."""
    machine = catalog.machine("gcp", pool.shape.machine_type)
    return machine.fabric_interfaces if machine and machine.fabric == pool.shape.fabric else 0


def cluster_problems(name: str, args: ClusterArgs) -> ArgProblems:
    """Every problem of the plain arguments, to raise together before anything is registered."""
    problems = ArgProblems(name)
    problems.check(bool(args.region), "region", "required on gcp")
    if not args.region:
        return problems  # the other checks are relative to the region
    region = args.region
    for zone in args.zones:
        problems.check(zone.startswith(f"{region}-"), "zones", f"{zone!r} — not a zone of {region}")
    if args.vpc_id:
        problems.check(
            len(args.subnet_ids) == 1,
            "subnet_ids",
            f"{len(args.subnet_ids)} subnets — GKE nodes use one regional subnet; give exactly one",
        )
    else:
        try:
            cidr = ipaddress.ip_network(args.network_cidr)
        except ValueError as err:
            problems.check(False, "network_cidr", f"{args.network_cidr!r} — not a CIDR block ({err})")
        else:
            problems.check(
                cidr.version == 4 and 8 <= cidr.prefixlen <= 20,
                "network_cidr",
                f"{args.network_cidr!r} — give an IPv4 block from /8 to /20",
            )
            problems.check(
                not cidr.overlaps(ipaddress.ip_network(GPU_CIDR)),
                "network_cidr",
                f"{args.network_cidr!r} — overlaps {GPU_CIDR}, which aiinfra keeps for GPU NIC networks",
            )
    for pool in args.node_pools:
        pool_problems(problems, ("node_pools", pool.name), pool, region, args.zones)
    rdma_zones = {resolved_zone(p, args.zones) for p in args.node_pools if p.shape.fabric == Fabric.RDMA}
    problems.check(
        len(rdma_zones) <= 1,
        "node_pools",
        f"rdma pools in zones {sorted(str(z) for z in rdma_zones)} — a RoCE network is zonal; put them in one zone",
    )
    return problems


class GkeCluster(ClusterAdapter):
    """GKE Standard control plane, its networks (new or existing), node identity and GPU fabric plumbing."""

    provider: gcp.Provider
    cluster: gcp.container.Cluster
    node_service_account: gcp.serviceaccount.Account
    secrets_key: gcp.kms.CryptoKey
    network: Network | None
    kubernetes_provider: k8s.Provider | None
    """The adapter's own provider for fabric objects; None on clusters without TCPXO or RDMA pools."""
    project_id: pulumi.Output[str]
    workload_pool: pulumi.Output[str]
    """`<project>.svc.id.goog`: the Workload Identity pool Kubernetes service accounts federate through."""

    def __init__(self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None):
        cluster_problems(name, args).raise_if_any()
        super().__init__("aiinfra:gcp:GkeCluster", name, None, opts)
        self.region: str = args.region  # type: ignore[assignment]  # checked in cluster_problems
        self._given_zones = tuple(args.zones)
        self.cluster_name = _physical_name(f"{name}-{pulumi.get_stack()}", 40)
        self.tags = merge_tags(args.tags)
        self.labels = gcp_labels(self.tags)
        self.provider = gcp.Provider(
            f"{name}-provider",
            region=self.region,
            default_labels=self.labels,
            opts=pulumi.ResourceOptions(parent=self),
        )
        child = pulumi.ResourceOptions(parent=self, provider=self.provider)
        project = gcp.organizations.get_project_output(opts=pulumi.InvokeOutputOptions(provider=self.provider))
        self.project_id = project.project_id
        if args.zones:
            self.zones = tuple(args.zones)
        else:
            found = gcp.compute.get_zones(
                region=self.region, status="UP", opts=pulumi.InvokeOptions(provider=self.provider)
            ).names
            self.zones = tuple(sorted(found)[:DEFAULT_ZONE_COUNT])

        tcpxo = [p for p in args.node_pools if p.shape.fabric == Fabric.TCPXO]
        rdma = [p for p in args.node_pools if p.shape.fabric == Fabric.RDMA]
        existing = bool(args.vpc_id)
        self.network = None
        if not existing or tcpxo or rdma:
            self.network = Network(
                f"{name}-network",
                NetworkArgs(
                    region=self.region,
                    cidr=args.network_cidr,
                    network=args.vpc_id if existing else None,
                    subnetwork=args.subnet_ids[0] if existing else None,
                    gpu_cidr=GPU_CIDR,
                    tcpxo_networks=max((gpu_nic_count(p) for p in tcpxo), default=0),
                    rdma_zone=resolved_zone(rdma[0], args.zones) if rdma else None,
                    rdma_subnets=max((gpu_nic_count(p) for p in rdma), default=0),
                    project=self.project_id,
                ),
                child,
            )
        network = self.network.network if self.network else pulumi.Output.from_input(args.vpc_id)
        subnetwork = self.network.subnetwork if self.network else pulumi.Output.from_input(args.subnet_ids[0])
        pods_range = self.network.pods_range if self.network else None
        services_range = self.network.services_range if self.network else None

        # GKE's service agent encrypts and decrypts the data keys of Kubernetes secrets with it.
        _, self.secrets_key, key_grant = service_key(
            name,
            key="secrets",
            agent="gke",
            member=project.number.apply(
                lambda number: f"serviceAccount:service-{number}@container-engine-robot.iam.gserviceaccount.com"
            ),
            region=self.region,
            labels=self.labels,
            protect=args.protect_stateful,
            opts=child,
        )

        self.node_service_account = gcp.serviceaccount.Account(
            f"{name}-nodes",
            account_id=_physical_name(f"{self.cluster_name[:23]}-nodes", 30),
            display_name=f"Nodes of GKE cluster {self.cluster_name}",
            opts=child,
        )
        for role in NODE_ROLES:
            gcp.projects.IAMMember(
                f"{name}-nodes-{role.removeprefix('roles/').replace('.', '-')}",
                project=self.project_id,
                role=role,
                member=self.node_service_account.member,
                opts=child,
            )

        public = bool(args.public_access_cidrs)
        self.workload_pool = self.project_id.apply(lambda p: f"{p}.svc.id.goog")
        self.cluster = gcp.container.Cluster(
            f"{name}-gke",
            name=self.cluster_name,
            location=self.region,
            node_locations=list(self.zones),
            min_master_version=args.kubernetes_version,
            release_channel={"channel": RELEASE_CHANNEL},
            network=network,
            subnetwork=subnetwork,
            networking_mode="VPC_NATIVE",
            ip_allocation_policy=(
                {"cluster_secondary_range_name": pods_range, "services_secondary_range_name": services_range}
                if pods_range
                # On an existing subnet GKE creates and names the pod and service ranges itself.
                else {"stack_type": "IPV4"}
            ),
            datapath_provider="ADVANCED_DATAPATH",
            enable_multi_networking=bool(tcpxo or rdma),
            private_cluster_config={"enable_private_nodes": True, "enable_private_endpoint": not public},
            master_authorized_networks_config={
                "cidr_blocks": [
                    {"cidr_block": cidr, "display_name": f"public-access-{i}"}
                    for i, cidr in enumerate(args.public_access_cidrs)
                ],
                "gcp_public_cidrs_access_enabled": False,
            },
            master_auth={"client_certificate_config": {"issue_client_certificate": False}},
            enable_legacy_abac=False,
            enable_shielded_nodes=True,
            workload_identity_config={"workload_pool": self.workload_pool},
            database_encryption={"state": "ENCRYPTED", "key_name": self.secrets_key.id},
            logging_config={"enable_components": ["SYSTEM_COMPONENTS", "WORKLOADS"]},
            monitoring_config={"enable_components": ["SYSTEM_COMPONENTS"], "managed_prometheus": {"enabled": True}},
            addons_config={"gcs_fuse_csi_driver_config": {"enabled": True}},
            # Node pools are separate resources; the default pool only exists during creation, and is made
            # as hardened as the others in case the default compute service account is disabled.
            remove_default_node_pool=True,
            initial_node_count=1,
            node_config={
                "service_account": self.node_service_account.email,
                "oauth_scopes": [CLOUD_PLATFORM_SCOPE],
                "shielded_instance_config": {"enable_secure_boot": True, "enable_integrity_monitoring": True},
                "workload_metadata_config": {"mode": "GKE_METADATA"},
            },
            # GKE refuses to delete a protected cluster: production stacks keep it, others can be destroyed.
            deletion_protection=args.protect_stateful,
            resource_labels=self.labels,
            opts=pulumi.ResourceOptions(
                parent=self,
                provider=self.provider,
                depends_on=[key_grant],
                ignore_changes=["nodeConfig", "initialNodeCount"],
            ),
        )

        self.endpoint = self.cluster.endpoint.apply(lambda host: f"https://{host}")
        self.kubeconfig = pulumi.Output.all(self.endpoint, self.cluster.master_auth.cluster_ca_certificate).apply(
            lambda v: kubeconfig(self.cluster_name, v[0], v[1])
        )

        self._tcpxo_nics: tuple[GkeNic, ...] = self.network.tcpxo_nics if self.network else ()
        self._rdma_nics: tuple[GkeNic, ...] = self.network.rdma_nics if self.network else ()
        self.kubernetes_provider = None
        if tcpxo or rdma:
            self.kubernetes_provider = k8s.Provider(
                f"{name}-fabric-k8s",
                kubeconfig=pulumi.Output.secret(self.kubeconfig),
                enable_server_side_apply=True,
                opts=pulumi.ResourceOptions(parent=self),
            )
            in_cluster = pulumi.ResourceOptions(parent=self, provider=self.kubernetes_provider)
            network_objects(name, (*self._tcpxo_nics, *self._rdma_nics), in_cluster)
            if tcpxo:
                daemonsets(name, TCPXO_MANIFESTS, in_cluster)
            if rdma:
                daemonsets(name, RDMA_MANIFESTS, in_cluster)

        if not any(
            not p.shape.is_gpu and p.shape.tpu is None and not p.taints and p.min_nodes >= 1 for p in args.node_pools
        ):
            pulumi.log.warn(
                f"cluster {name}: no untainted CPU pool with min_nodes >= 1, so kube-dns, metrics and other system "
                "pods have nowhere to run until one is added",
                self,
            )

        self.register_outputs(
            {
                "clusterName": self.cluster.name,
                "endpoint": self.endpoint,
                "nodeServiceAccount": self.node_service_account.email,
                "workloadPool": self.workload_pool,
            }
        )

    def _pool_nics(self, pool: NodePoolArgs) -> tuple[GkeNic, ...]:
        count = gpu_nic_count(pool)
        if pool.shape.fabric == Fabric.TCPXO:
            return self._tcpxo_nics[:count]
        if pool.shape.fabric == Fabric.RDMA:
            return self._rdma_nics[: 1 + count]  # the second gVNIC, then one RoCE subnet per ConnectX NIC
        return ()

    def build_node_pool(self, name: str, args: NodePoolArgs, opts: pulumi.ResourceOptions) -> None:
        zone = resolved_zone(args, self._given_zones) if needs_one_zone(args) else args.zone
        GkeNodePool(
            name,
            GkeNodePoolArgs(
                pool=args,
                cluster=self.cluster.id,
                region=self.region,
                zones=(zone,) if zone else self.zones,
                service_account=self.node_service_account.email,
                additional_networks=self._pool_nics(args),
                labels=gcp_labels(merge_tags(self.tags, {"aiinfra-pool": args.name})),
            ),
            pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(provider=self.provider)),
        )
