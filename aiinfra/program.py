"""Spec → component Args: the pure mapping `__main__.py` uses (tested without Pulumi running)."""

from __future__ import annotations

from collections.abc import Callable

from aiinfra.spec import ClusterSpec, PlatformSpec, TeamSpec, resolve_pool
from components.cluster import Cluster, ClusterArgs, NodePoolArgs
from components.common import Taint, merge_tags
from components.kubernetes.tenancy import TenancyArgs, cluster_quotas


def is_production(stack: str) -> bool:
    """Stacks named prod* hold production state: their keys, vaults and lakes are protected."""
    return stack.startswith("prod")


def cluster_args(
    cluster: ClusterSpec, platform: PlatformSpec, stack: str, secret: Callable[[str], object] | None = None
) -> ClusterArgs:
    """Typed args for one cluster. `secret(key)` reads an on-prem kubeconfig from stack config."""
    pools = []
    for pool in cluster.node_pools:
        resolved = resolve_pool(cluster, pool)
        pools.append(
            NodePoolArgs(
                name=pool.name,
                shape=resolved.shape,
                min_nodes=resolved.nodes.min,
                max_nodes=resolved.nodes.max,
                capacity_type=pool.capacity.type,
                reservation_id=pool.capacity.id,
                zone=pool.zone,
                labels=dict(pool.labels),
                taints=tuple(Taint(t.key, t.value, t.effect) for t in pool.taints),
                node_selector=dict(pool.node_selector),
                ami_family=pool.ami_family,
            )
        )
    kubeconfig = secret(cluster.kubeconfig) if (cluster.kubeconfig and secret) else None
    return ClusterArgs(
        cloud=cluster.cloud,
        region=cluster.region,
        zones=tuple(cluster.zones),
        kubernetes_version=cluster.kubernetes_version,
        node_pools=tuple(pools),
        network_cidr=cluster.network.cidr,
        vpc_id=cluster.network.vpc_id,
        subnet_ids=tuple(cluster.network.subnet_ids),
        public_access_cidrs=tuple(cluster.api.public_cidrs),
        kubeconfig=kubeconfig,
        tags=merge_tags({"environment": stack}, platform.tags, cluster.tags),
        protect_stateful=is_production(stack),
    )


def tenancy_args(team: TeamSpec, cluster: Cluster, kubernetes_version: str, stack: str) -> TenancyArgs | None:
    """The team's tenancy on one cluster, or None when the team asks for none of its accelerators
    in this environment (a team lives only where its GPUs/TPUs are)."""
    if cluster.platform is None:
        return None
    quotas = cluster_quotas(team.quotas.get(stack, {}), cluster.platform.accelerator_classes)
    if not quotas:
        return None
    return TenancyArgs(
        provider=cluster.kubernetes_provider,
        team=team.team,
        kubernetes_version=kubernetes_version,
        accelerator_classes=cluster.platform.accelerator_classes,
        quotas=quotas,
        tags=cluster.tags,
    )
