"""Device plugins for EKS pools, as pinned Helm charts: the NVIDIA device plugin (`nvidia.com/gpu`) and the
AWS EFA device plugin (`vpc.amazonaws.com/efa`). Values are rendered here, from the pools they serve."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiinfra.core.catalog import Fabric
from components.aws.node_group import GPU_TAINT
from components.contracts import NodePoolArgs

INSTANCE_TYPE_LABEL = "node.kubernetes.io/instance-type"


@dataclass(frozen=True)
class HelmChart:
    name: str
    repository: str
    version: str
    """Pinned chart version, exactly as the repository's index spells it."""
    source: str
    """Where the version and the value names were checked, and when."""


NVIDIA_DEVICE_PLUGIN = HelmChart(
    name="nvidia-device-plugin",
    repository="https://nvidia.github.io/k8s-device-plugin",
    version="0.20.0",
    source=(
        "https://github.com/NVIDIA/k8s-device-plugin/pull/1972 (v0.20.0, 2026-08) and "
        "deployments/helm/nvidia-device-plugin/values.yaml + values.schema.json (tolerations, affinity, "
        "priorityClassName); checked 2026-11"
    ),
)
EFA_DEVICE_PLUGIN = HelmChart(
    name="aws-efa-k8s-device-plugin",
    repository="https://aws.github.io/eks-charts",
    version="v0.5.29",
    source=(
        "https://github.com/aws/eks-charts/pull/1338 (chart v0.5.29, image v0.5.20, 2026-06) and "
        "stable/aws-efa-k8s-device-plugin/values.yaml + templates (tolerations, nodeSelector, "
        "supportedInstanceLabels); checked 2026-11"
    ),
)


def pool_tolerations(pools: Sequence[NodePoolArgs]) -> list[dict[str, str]]:
    """Tolerations for every taint the pools' nodes carry: the GPU taint and each pool's own taints, so the
    plugin also runs on nodes a team has tainted for itself."""
    tolerations = [{"key": GPU_TAINT.key, "operator": "Exists", "effect": GPU_TAINT.effect}]
    for pool in pools:
        for taint in pool.taints:
            toleration = {"key": taint.key, "operator": "Equal", "value": taint.value, "effect": taint.effect}
            if toleration not in tolerations:
                tolerations.append(toleration)
    return tolerations


def nvidia_device_plugin_values(pools: Sequence[NodePoolArgs]) -> dict[str, Any]:
    """Values for the NVIDIA device plugin on these GPU pools only. The chart's default affinity (NFD's PCI
    label or `nvidia.com/gpu.present`) is replaced by the pools' own labels, so Bottlerocket NVIDIA nodes, whose
    AMI runs its own device plugin, and any other GPU nodes never get a second one."""
    names = sorted(p.name for p in pools)
    return {
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {
                            "matchExpressions": [
                                {"key": "nvidia.com/gpu.present", "operator": "In", "values": ["true"]},
                                {"key": "aiinfra.dev/pool", "operator": "In", "values": names},
                            ]
                        }
                    ]
                }
            }
        },
        "tolerations": [{"key": "CriticalAddonsOnly", "operator": "Exists"}, *pool_tolerations(pools)],
        "priorityClassName": "system-node-critical",
    }


def efa_device_plugin_values(pools: Sequence[NodePoolArgs]) -> dict[str, Any]:
    """Values for the EFA device plugin on these EFA pools only: the chart's instance-type allowlist is
    narrowed to the pools' types (a type newer than the pinned chart's list would otherwise get no plugin) and
    the nodes must carry the EFA fabric label. The chart adds the CriticalAddonsOnly toleration itself."""
    return {
        "supportedInstanceLabels": {
            "keys": [INSTANCE_TYPE_LABEL],
            "values": sorted({p.shape.machine_type for p in pools if p.shape.machine_type}),
        },
        "nodeSelector": {"aiinfra.dev/fabric": Fabric.EFA.value},
        "tolerations": pool_tolerations(pools),
    }
