"""Provider-neutral Cluster and NodePool facades.

`Cluster` picks the cloud adapter (components/<cloud>/), makes one Kubernetes provider from the
adapter's kubeconfig, creates one `NodePool` per pool, then the platform layer every cluster
carries (JobSet, Kueue, metrics). Everything Kubernetes-side of a cluster (add-ons, tenancy,
workloads) uses `cluster.kubernetes_provider`.
"""

from __future__ import annotations

from dataclasses import replace

import pulumi
import pulumi_kubernetes as k8s

from aiinfra.core.catalog import NodeShape
from aiinfra.core.vocab import Cloud
from components.common import ArgProblems, Taint, merge_tags
from components.contracts import (
    ADAPTERS,
    SYSTEM_NAMESPACE,
    ClusterAdapter,
    ClusterArgs,
    NodePoolArgs,
    adapter_class,
)
from components.kubernetes.platform import PlatformLayer, PlatformLayerArgs


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


def cluster_problems(name: str, args: ClusterArgs) -> ArgProblems:
    problems = ArgProblems(name)
    problems.check(args.cloud in ADAPTERS, "cloud", f"{args.cloud!r} — choose one of {', '.join(ADAPTERS)}")
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
    problems.check(
        args.cloud == "azure" or not args.private_dns_zone_ids,
        "private_dns_zone_ids",
        f"azure only: {args.cloud} clusters reach their lakes without private endpoints",
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
    return problems


class Cluster(pulumi.ComponentResource):
    """A Kubernetes cluster on any cloud, with its node pools and a provider for in-cluster objects."""

    cloud: Cloud
    tags: dict[str, str]
    """The stack's tags merged with `aiinfra-cluster: <name>`."""
    kubeconfig: pulumi.Output[str]
    """A secret."""
    endpoint: pulumi.Output[str]
    kubernetes_provider: k8s.Provider
    """Every Kubernetes object of the cluster (add-ons, tenancy, workloads) goes through it."""
    system_namespace: k8s.core.v1.Namespace
    """`aiinfra-system`, where device plugins and fabric daemons run (Pod Security `privileged`)."""
    adapter: ClusterAdapter
    """The cloud's half (EksCluster, GkeCluster, AksCluster, OnPremCluster)."""
    node_pools: dict[str, NodePool]
    platform: PlatformLayer

    def __init__(self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None):
        cluster_problems(name, args).raise_if_any()  # before registering anything: nothing half-created
        super().__init__("aiinfra:index:Cluster", name, None, opts)
        self.cloud = args.cloud
        self.tags = merge_tags(args.tags, {"aiinfra-cluster": name})
        adapter_cls = adapter_class(ADAPTERS[args.cloud].cluster)
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
