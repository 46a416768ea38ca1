"""Provider-neutral Cluster and NodePool facades.

`Cluster` picks the cloud adapter (components/<cloud>/), makes one Kubernetes provider from the
adapter's kubeconfig, creates one `NodePool` per pool, then the platform layer every cluster
carries (JobSet, Kueue, metrics). Everything Kubernetes-side of a cluster (add-ons, tenancy,
workloads) uses `cluster.kubernetes_provider`.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import pulumi
import pulumi_kubernetes as k8s

from aiinfra.catalog import NodeShape
from components.common import ArgProblems, Taint, merge_tags

# cloud → "module:Class" of its adapter; imported on first use so a program that plans one
# cloud never imports another cloud's SDK.
ADAPTERS: dict[str, str] = {
    "aws": "components.aws.eks:EksCluster",
    "gcp": "components.gcp.gke:GkeCluster",
    "azure": "components.azure.aks:AksCluster",
    "onprem": "components.kubernetes.onprem:OnPremCluster",
}
SYSTEM_NAMESPACE = "aiinfra-system"


@dataclass(frozen=True, kw_only=True)
class NodePoolArgs:
    name: str
    """Pool name, unique in its cluster; used in node labels and resource names."""
    shape: NodeShape
    """The catalog's resolution of the pool's accelerator: machine type, fabric, NVMe, price."""
    min_nodes: int = 0
    """Fewest nodes. Defaults to 0: the pool scales to zero when idle."""
    max_nodes: int = 1
    """Most nodes. Defaults to 1."""
    capacity_type: str = "on-demand"
    """on-demand, spot, reservation or capacity-block. Defaults to on-demand."""
    reservation_id: str | None = None
    """Reservation targeted by reservation and capacity-block pools. Defaults to none."""
    zone: str | None = None
    """The one zone of the pool's nodes. Defaults to every zone of the cluster."""
    labels: Mapping[str, str] = field(default_factory=dict)
    """Extra node labels, merged over the accelerator and fabric labels aiinfra sets."""
    taints: tuple[Taint, ...] = ()
    """Extra node taints. GPU and TPU pools always get their accelerator taint."""
    node_selector: Mapping[str, str] = field(default_factory=dict)
    """On-prem only: labels selecting the existing nodes. Defaults to none."""
    ami_family: str = "al2023"
    """AWS only: "al2023" or "bottlerocket" (Bottlerocket NVIDIA for GPU pools). Defaults to al2023."""


@dataclass(frozen=True, kw_only=True)
class ClusterArgs:
    cloud: str
    """aws, gcp, azure or onprem."""
    region: str | None = None
    """Cloud region; none on-prem."""
    zones: tuple[str, ...] = ()
    """Zones for nodes. Defaults to the first three zones the cloud reports for the region."""
    kubernetes_version: str
    """Kubernetes minor version, e.g. "1.33"."""
    node_pools: tuple[NodePoolArgs, ...] = ()
    """Pools to create (or, on-prem, to describe). Defaults to none."""
    network_cidr: str = "10.0.0.0/16"
    """CIDR of the network created when `vpc_id` is absent."""
    vpc_id: pulumi.Input[str] | None = None
    """An existing VPC/VNet to use. Defaults to a new one with private subnets and NAT."""
    subnet_ids: tuple[pulumi.Input[str], ...] = ()
    """Existing private subnets, required with `vpc_id`."""
    public_access_cidrs: tuple[str, ...] = ()
    """CIDRs allowed to reach a public API endpoint. Defaults to none: the endpoint stays private."""
    kubeconfig: pulumi.Input[str] | None = None
    """On-prem only: the existing cluster's kubeconfig (a secret)."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """The stack's tags, merged into every resource's tags or labels."""
    protect_stateful: bool = False
    """Mark keys and vaults `protect=True` so no update or destroy can delete them (production stacks).
    Defaults to false."""


class ClusterAdapter(pulumi.ComponentResource):
    """What a cloud adapter provides to the facade."""

    kubeconfig: pulumi.Output[str]
    endpoint: pulumi.Output[str]

    def build_node_pool(self, name: str, args: NodePoolArgs, opts: pulumi.ResourceOptions) -> None:
        raise NotImplementedError

    def build_node_software(self, kubernetes_provider: k8s.Provider, system_namespace: k8s.core.v1.Namespace) -> None:
        """Device plugins and fabric daemons the built pools need; called once, after every pool.
        Adapters whose cluster needs none keep this default."""

    def imposed_taints(self, pool: NodePoolArgs) -> tuple[Taint, ...]:
        """Taints the cloud puts on the pool's nodes besides the accelerator's and those asked for (AKS taints
        spot nodes), so queues and workloads tolerate them. Defaults to none."""
        return ()


class NodePool(pulumi.ComponentResource):
    """One pool of identical nodes; its cloud resources come from the cluster's adapter."""

    shape: NodeShape
    taints: tuple[Taint, ...]
    """Every taint of the pool's nodes but the accelerator's (which follows from `shape`)."""

    def __init__(
        self, name: str, args: NodePoolArgs, adapter: ClusterAdapter, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("aiinfra:index:NodePool", name, None, opts)
        self.shape = args.shape
        self.taints = tuple(args.taints) + adapter.imposed_taints(args)
        adapter.build_node_pool(name, args, pulumi.ResourceOptions(parent=self))
        self.register_outputs(
            {
                "machineType": args.shape.machine_type,
                "accelerator": args.shape.accelerator,
                "fabric": args.shape.fabric.value,
            }
        )


def _validate(name: str, args: ClusterArgs) -> None:
    problems = ArgProblems(name)
    names = [p.name for p in args.node_pools]
    problems.check(len(names) == len(set(names)), "node_pools", f"pool names repeat: {names}")
    problems.check(
        bool(args.vpc_id) == bool(args.subnet_ids),
        "subnet_ids",
        "give vpc_id and subnet_ids together to use an existing network",
    )
    problems.check(
        (args.cloud == "onprem") == (args.kubeconfig is not None), "kubeconfig", "required on-prem and only there"
    )
    for pool in args.node_pools:
        problems.check(
            pool.shape.cloud == args.cloud,
            ("node_pools", pool.name),
            f"shape is for {pool.shape.cloud}, cluster is on {args.cloud}",
        )
        problems.check(
            0 <= pool.min_nodes <= pool.max_nodes,
            ("node_pools", pool.name, "min_nodes"),
            f"need 0 <= min_nodes ({pool.min_nodes}) <= max_nodes ({pool.max_nodes})",
        )
    problems.raise_if_any()


class Cluster(pulumi.ComponentResource):
    """A Kubernetes cluster on any cloud, with its node pools and a provider for in-cluster objects."""

    kubeconfig: pulumi.Output[str] | None
    """None while the cloud has no adapter (the plan warns)."""
    endpoint: pulumi.Output[str] | None
    kubernetes_provider: k8s.Provider | None
    node_pools: dict[str, NodePool]

    def __init__(self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None):
        _validate(name, args)  # before registering anything: bad args must leave nothing half-created
        super().__init__("aiinfra:index:Cluster", name, None, opts)
        self.cloud = args.cloud
        self.tags = merge_tags(args.tags, {"aiinfra-cluster": name})
        adapter_path = ADAPTERS.get(args.cloud)
        if adapter_path is None:
            # The adapter for this cloud is not built yet: say so in the plan instead of
            # pretending the cluster exists.
            pulumi.log.warn(f"cluster {name}: no {args.cloud} adapter yet; nothing is created for it", self)
            self.kubeconfig = self.endpoint = self.kubernetes_provider = self.adapter = self.platform = None
            self.node_pools = {}
            self.register_outputs({"cloud": args.cloud, "created": False})
            return
        module_name, class_name = adapter_path.split(":")
        adapter_cls = getattr(importlib.import_module(module_name), class_name)
        # The adapter shares the cluster's name (its type token tells them apart), so physical
        # names read `<cluster>-<role>`; it gets the cluster's merged tags.
        adapter: ClusterAdapter = adapter_cls(name, replace(args, tags=self.tags), pulumi.ResourceOptions(parent=self))
        self.kubeconfig = pulumi.Output.secret(adapter.kubeconfig)
        self.endpoint = adapter.endpoint
        self.kubernetes_provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=self.kubeconfig,
            enable_server_side_apply=True,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.system_namespace = k8s.core.v1.Namespace(
            f"{name}-system",
            # Device plugins and fabric daemons live here and need host access.
            metadata={
                "name": SYSTEM_NAMESPACE,
                "labels": {
                    "app.kubernetes.io/managed-by": "aiinfra",
                    "pod-security.kubernetes.io/enforce": "privileged",
                },
            },
            opts=pulumi.ResourceOptions(parent=self, provider=self.kubernetes_provider),
        )
        self.node_pools = {
            pool.name: NodePool(f"{name}-{pool.name}", pool, adapter, pulumi.ResourceOptions(parent=self))
            for pool in args.node_pools
        }
        adapter.build_node_software(self.kubernetes_provider, self.system_namespace)
        self.adapter = adapter
        from components.kubernetes.platform import PlatformLayer, PlatformLayerArgs  # imports this module

        self.platform = PlatformLayer(
            f"{name}-platform",
            PlatformLayerArgs(
                provider=self.kubernetes_provider,
                cloud=args.cloud,
                kubernetes_version=args.kubernetes_version,
                # With the taints as built, so each pool's ResourceFlavor tolerates what its nodes carry.
                pools=tuple(replace(p, taints=self.node_pools[p.name].taints) for p in args.node_pools),
                system_namespace=self.system_namespace.metadata.name,
                tags=self.tags,
            ),
            pulumi.ResourceOptions(parent=self, depends_on=list(self.node_pools.values())),
        )
        self.register_outputs({"endpoint": self.endpoint, "kubeconfig": self.kubeconfig, "cloud": args.cloud})
