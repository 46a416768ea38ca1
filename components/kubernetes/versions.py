"""Pinned versions of everything the Kubernetes layer installs, each with where it was checked and when.

Chosen for the Kubernetes window in `aiinfra.core.catalog.data.SUPPORTED_KUBERNETES` (1.31-1.34): the newest
release line of each project that was current while those minors were (late 2025). Bump a pin together
with the CRD schemas the tests validate against (tests/data/crds/), and re-read the project's release
notes for the Kubernetes versions it supports.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiinfra.core.exceptions import workload_named


@dataclass(frozen=True, kw_only=True)
class HelmChart:
    chart: str
    """Chart name in `repo`, or a full oci:// reference."""
    version: str
    """Exact chart version (never a range)."""
    repo: str | None = None
    """Classic Helm repository URL; None for OCI charts."""
    namespace: str
    """Namespace the release and its workloads live in."""
    image: str | None = None
    """Main image `repository:tag`, set explicitly in the values so the chart cannot float it."""
    source: str
    """Where the version (and, for images, the tag) was checked."""
    as_of: str
    """When the pin was last checked against `source`."""

    @property
    def image_repository(self) -> str:
        assert self.image is not None
        return self.image.rsplit(":", 1)[0]

    @property
    def image_tag(self) -> str:
        assert self.image is not None
        return self.image.rsplit(":", 1)[1]


KUEUE = HelmChart(
    chart="oci://registry.k8s.io/kueue/charts/kueue",
    version="0.15.7",
    namespace="kueue-system",
    image="registry.k8s.io/kueue/kueue:v0.15.7",
    # 0.15 is the first line serving kueue.x-k8s.io/v1beta2 (the only version served from 0.20 on), so the
    # objects aiinfra writes survive later upgrades unchanged.
    source="https://github.com/kubernetes-sigs/kueue/blob/main/CHANGELOG/CHANGELOG-0.15.md",
    as_of="2026-11",
)
KUEUE_API_VERSION = "kueue.x-k8s.io/v1beta2"

JOBSET = HelmChart(
    chart="oci://registry.k8s.io/jobset/charts/jobset",
    version="0.10.1",
    namespace="jobset-system",
    image="registry.k8s.io/jobset/jobset:v0.10.1",
    source="https://github.com/kubernetes-sigs/jobset/releases/tag/v0.10.1",
    as_of="2026-11",
)
JOBSET_API_VERSION = "jobset.x-k8s.io/v1alpha2"

GPU_OPERATOR = HelmChart(
    chart="gpu-operator",
    repo="https://helm.ngc.nvidia.com/nvidia",
    version="v25.10.1",
    namespace="gpu-operator",
    source="https://docs.nvidia.com/datacenter/cloud-native/gpu-operator/latest/getting-started.html",
    as_of="2026-11",
)

NETWORK_OPERATOR = HelmChart(
    chart="network-operator",
    repo="https://helm.ngc.nvidia.com/nvidia",
    version="v25.10.0",
    namespace="nvidia-network-operator",
    source="https://docs.nvidia.com/networking/display/kubernetes25100/deployment-guide-kubernetes.html",
    as_of="2026-11",
)
NIC_CLUSTER_POLICY_API_VERSION = "mellanox.com/v1alpha1"
RDMA_SHARED_DEVICE_PLUGIN = {
    # The NicClusterPolicy image triple the Network Operator release ships (its CR example, v25.7.0 on).
    "repository": "nvcr.io/nvidia/mellanox",
    "image": "k8s-rdma-shared-dev-plugin",
    "version": "network-operator-v25.10.0",
}

DCGM_EXPORTER = HelmChart(
    chart="dcgm-exporter",
    repo="https://nvidia.github.io/dcgm-exporter/helm-charts",
    version="4.8.3",
    namespace="aiinfra-system",
    source="https://github.com/NVIDIA/dcgm-exporter/tree/main/deployment",
    as_of="2026-11",
)

LOCAL_VOLUME_PROVISIONER_IMAGE = workload_named("aiinfra-system/local-nvme-provisioner").images[0]
"""sig-storage-local-static-provisioner v2.9.0 (helm/provisioner/Chart.yaml appVersion), rendered here
rather than through its chart so every object is validated and carries resource limits. Pinned with its
reviewed exception (aiinfra.core.exceptions): it runs privileged."""
LOCAL_VOLUME_PROVISIONER_SOURCE = "https://github.com/kubernetes-sigs/sig-storage-local-static-provisioner"

ALL_CHARTS = (KUEUE, JOBSET, GPU_OPERATOR, NETWORK_OPERATOR, DCGM_EXPORTER)
