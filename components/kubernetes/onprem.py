"""The on-prem adapter of `Cluster`: `OnPremCluster` reaches an existing cluster through a kubeconfig held as a
Pulumi secret; its node pools describe existing nodes by label selector (`ExistingNodes`) instead of creating
machines. What such a cluster needs installed is in `onprem_addons`.
"""

from __future__ import annotations

from typing import cast

import pulumi
import yaml

from components.common import ArgProblems
from components.contracts import ClusterAdapter, ClusterArgs, NodePoolArgs
from components.kubernetes.meta import (
    accelerator_tolerations,
    taint_tolerations,
    valid_label_key,
    valid_label_value,
)

MAX_SELECTOR_LABELS = 8
"""Kueue ResourceFlavor `nodeLabels` holds at most 8 labels, and the pool selector becomes its nodeLabels."""


def kubeconfig_server(kubeconfig: str | None) -> str | None:
    """The API server URL of a kubeconfig's current context (or of its only cluster); None when unknown.

    Only parses: a value that is not a kubeconfig (such as a placeholder secret) yields None."""
    try:
        doc = yaml.safe_load(kubeconfig) if kubeconfig else None
    except yaml.YAMLError:
        return None
    if not isinstance(doc, dict):
        return None
    clusters = {c.get("name"): c.get("cluster") or {} for c in doc.get("clusters") or [] if isinstance(c, dict)}
    contexts = {c.get("name"): c.get("context") or {} for c in doc.get("contexts") or [] if isinstance(c, dict)}
    current = contexts.get(doc.get("current-context"))
    if current is not None:
        cluster_name = current.get("cluster")
    else:
        cluster_name = next(iter(clusters)) if len(clusters) == 1 else None
    server = (clusters.get(cluster_name) or {}).get("server")
    return server if isinstance(server, str) and server else None


def pool_problems(problems: ArgProblems, path: tuple[str | int, ...], pool: NodePoolArgs) -> None:
    """Problems of one on-prem pool: its selector must pick existing nodes and fit a Kueue flavor."""
    selector = dict(pool.node_selector)
    problems.check(
        bool(selector),
        (*path, "node_selector"),
        "empty — an on-prem pool's selector must match its existing nodes; give their labels "
        "(e.g. {aiinfra.dev/rack: r1, nvidia.com/gpu.product: NVIDIA-H100-80GB-HBM3})",
    )
    problems.check(
        len(selector) <= MAX_SELECTOR_LABELS,
        (*path, "node_selector"),
        f"{len(selector)} labels — at most {MAX_SELECTOR_LABELS} (the pool becomes a Kueue ResourceFlavor)",
    )
    for key, value in selector.items():
        problems.check(
            valid_label_key(key) and valid_label_value(value),
            (*path, "node_selector", key),
            f"{key}={value!r} — not a valid Kubernetes label, so it matches no node",
        )
    problems.check(
        pool.shape.cloud == "onprem",
        (*path, "shape"),
        f"shape is for {pool.shape.cloud}, the cluster is on-prem",
    )
    problems.check_taints(path, pool.taints)


def selector_affinity(pools: tuple[NodePoolArgs, ...]) -> dict | None:
    """Required node affinity matching the nodes of any of `pools` (terms are ORed); None for no pools."""
    terms = [
        {"matchExpressions": [{"key": k, "operator": "In", "values": [v]} for k, v in sorted(p.node_selector.items())]}
        for p in pools
        if p.node_selector
    ]
    if not terms:
        return None
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}}}


def pool_tolerations(pools: tuple[NodePoolArgs, ...]) -> list[dict[str, str]]:
    """Tolerations for every taint of `pools` (declared and accelerator), without repeats."""
    out: list[dict[str, str]] = []
    for pool in pools:
        for toleration in accelerator_tolerations(pool.shape) + taint_tolerations(pool.taints):
            if toleration not in out:
                out.append(toleration)
    return out


class ExistingNodes(pulumi.ComponentResource):
    """An on-prem pool: existing nodes found by label selector. It creates nothing; its outputs record the
    selector and what the nodes offer, for Kueue quotas and the plan report."""

    def __init__(self, name: str, args: NodePoolArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aiinfra:kubernetes:ExistingNodes", name, None, opts)
        self.node_selector = dict(args.node_selector)
        self.accelerators = args.max_nodes * args.shape.accelerators_per_node
        """Accelerators on the declared nodes: nodes x accelerators per node."""
        self.register_outputs(
            {
                "nodeSelector": self.node_selector,
                "accelerator": args.shape.accelerator,
                "acceleratorsPerNode": args.shape.accelerators_per_node,
                "nodes": args.max_nodes,
                "accelerators": self.accelerators,
                "fabric": args.shape.fabric.value,
            }
        )


class OnPremCluster(ClusterAdapter):
    """An existing Kubernetes cluster reached through its kubeconfig (a Pulumi secret)."""

    def __init__(self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None):
        problems = ArgProblems(name)
        problems.check(args.kubeconfig is not None, "kubeconfig", "required on-prem: the cluster's kubeconfig secret")
        problems.check(args.region is None, "region", f"{args.region!r} — on-prem clusters have no cloud region")
        for pool in args.node_pools:
            pool_problems(problems, ("node_pools", pool.name), pool)
        problems.raise_if_any()
        super().__init__("aiinfra:kubernetes:OnPremCluster", name, None, opts)
        # Checked not None above.
        kubeconfig = pulumi.Output.from_input(cast("pulumi.Input[str]", args.kubeconfig))
        self.kubeconfig = pulumi.Output.secret(kubeconfig)
        # The server URL is an address, not a credential: it leaves the secret so reports can show it.
        # None when the kubeconfig names no server (a placeholder secret): the plan shows the endpoint unknown.
        self.endpoint = pulumi.Output.unsecret(kubeconfig.apply(kubeconfig_server))  # type: ignore[assignment]
        self.register_outputs({"endpoint": self.endpoint})

    def build_node_pool(self, name: str, args: NodePoolArgs, opts: pulumi.ResourceOptions) -> None:
        ExistingNodes(name, args, opts)
