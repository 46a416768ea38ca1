"""The reviewed exceptions of aiinfra's own node daemons and fabric sidecars: what each needs of the host beyond
Pod Security's `restricted`, why, and which component creates it.

The components that create these workloads take their identity (name, namespace, images) from here, and the
policy pack lets a workload through a pod-security rule only when it is one of them exactly: the same
namespace/name, every container running one of the reviewed images, and the rule among those reviewed. So
every environment admits the project's own daemons without per-environment allowlists, while a user's pod
that copies a daemon's name but not its images (or asks for more) is still blocked. Environment allowlists
(policy config) remain for the environment's own workloads.

Lives in the core because the pack may import nothing else.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

HOST_ACCESS_RULES = (
    "k8s-no-privileged",
    "k8s-no-host-namespaces",
    "k8s-no-privilege-escalation",
    "k8s-run-as-non-root",
    "k8s-no-run-as-user-0",
    "k8s-seccomp-runtime-default",
    "k8s-drop-all-capabilities",
)
"""The pod-security rules a privileged host daemon breaks by being one (a privileged container runs as root with
every capability, so it neither drops them nor needs to)."""
HOST_PATH_RULES = ("k8s-no-host-path",)
"""The rule a daemon that mounts host directories breaks."""
PINNED_IMAGE_RULES = ("k8s-image-digest",)
"""Reviewed daemons and sidecars run exactly the image strings reviewed here (some published by tag only), so
they are not also held to references by digest."""


@dataclass(frozen=True)
class ReviewedWorkload:
    """A node daemon (a DaemonSet) that needs the host, as reviewed."""

    workload: str
    """`namespace/name` of the DaemonSet."""
    images: tuple[str, ...]
    """Every image its containers may run; another image voids the exception."""
    rules: tuple[str, ...]
    """The pod-security rules it is let through."""
    component: str
    """The module that creates it."""
    reason: str


@dataclass(frozen=True)
class ReviewedSidecar:
    """A fabric sidecar that runs inside workload pods (whose names teams choose), as reviewed."""

    container: str
    """The container's name."""
    image: str
    capabilities: tuple[str, ...]
    """Capabilities it may add; it may also run as root."""
    rules: tuple[str, ...]
    component: str
    reason: str


GKE_PAUSE_IMAGE = "gke.gcr.io/pause:3.8@sha256:880e63f94b145e46f1b1082bb71b85e21f16b99b180b9996407d61240ceb9830"

REVIEWED_WORKLOADS: tuple[ReviewedWorkload, ...] = (
    ReviewedWorkload(
        workload="kube-system/nccl-tcpxo-installer",
        images=(
            "ubuntu:22.04",
            "us-docker.pkg.dev/gce-ai-infra/gpudirect-tcpxo/nccl-plugin-gpudirecttcpx-dev:v1.0.16",
            GKE_PAUSE_IMAGE,
        ),
        rules=(*HOST_ACCESS_RULES, *HOST_PATH_RULES, *PINNED_IMAGE_RULES, "k8s-gpu-pods-request-gpus"),
        component="components.gcp.fabric (manifests/nccl-tcpxo-installer.yaml, Google's GPUDirect-TCPXO guide)",
        reason="GKE A3 Mega TCPXO: installs the NCCL FasTrak plugin into the host's /home/kubernetes/bin and tunes "
        "the host NICs on each GPU node; it must run on GPU nodes without taking a GPU",
    ),
    ReviewedWorkload(
        workload="kube-system/device-injector",
        images=(
            "gcr.io/gke-release/nri-device-injector@sha256:"
            "6e79483d52abdc28454bf186320b10a56b0f117a10e8d65d5c74dbb821a76970",
        ),
        rules=(*HOST_ACCESS_RULES, *HOST_PATH_RULES, *PINNED_IMAGE_RULES),
        component="components.gcp.fabric (manifests/nri-device-injector.yaml, Google's GPUDirect-TCPXO guide)",
        reason="GKE A3 Mega TCPXO: the NRI device injector adds the GPU and NIC devices to the tcpxo-daemon "
        "sidecars through the host's NRI socket",
    ),
    ReviewedWorkload(
        workload="kube-system/nccl-rdma-installer",
        images=(
            "alpine:3.20",
            "us-docker.pkg.dev/gce-ai-infra/gpudirect-gib/nccl-plugin-gib:v1.0.3",
            GKE_PAUSE_IMAGE,
        ),
        rules=(*HOST_ACCESS_RULES, *HOST_PATH_RULES, *PINNED_IMAGE_RULES, "k8s-gpu-pods-request-gpus"),
        component="components.gcp.fabric (manifests/nccl-rdma-installer.yaml, Google's GPUDirect RDMA guide)",
        reason="GKE A3 Ultra / A4 RDMA: installs the gIB NCCL plugin into the host and disables martian-packet "
        "logging on the RDMA NICs of each GPU node; it must run on GPU nodes without taking a GPU",
    ),
    ReviewedWorkload(
        workload="aiinfra-system/aiinfra-nvme-raid0",
        images=("mcr.microsoft.com/mirror/docker/library/ubuntu:24.04",),
        rules=(*HOST_ACCESS_RULES, *PINNED_IMAGE_RULES),
        component="components.azure.software",
        reason="AKS local NVMe: assembles the node's NVMe disks into a RAID0 scratch array with mdadm, which needs "
        "the host's block devices and PID namespace",
    ),
    ReviewedWorkload(
        workload="aiinfra-system/local-nvme-provisioner",
        images=("registry.k8s.io/sig-storage/local-volume-provisioner:v2.9.0",),
        rules=(*HOST_ACCESS_RULES, *HOST_PATH_RULES, *PINNED_IMAGE_RULES, "k8s-gpu-pods-request-gpus"),
        component="components.kubernetes.onprem_addons",
        reason="On-prem local NVMe: sig-storage-local-static-provisioner discovers the NVMe mounts on each GPU node "
        "and cleans released volumes; it needs host mount propagation and root, and takes no GPU",
    ),
)

REVIEWED_SIDECARS: tuple[ReviewedSidecar, ...] = (
    ReviewedSidecar(
        container="tcpxo-daemon",
        # GPUDirect-TCPXO release notes (GoogleCloudPlatform/container-engine-accelerators gpudirect-tcpxo), release
        # of 2025-02-06, paired with nccl-plugin-gpudirecttcpx-dev v1.0.8-1; checked 2026-11.
        image="us-docker.pkg.dev/gce-ai-infra/gpudirect-tcpxo/tcpgpudmarxd-dev:v1.0.14",
        capabilities=("NET_ADMIN", "NET_BIND_SERVICE"),
        rules=("k8s-run-as-non-root", "k8s-no-run-as-user-0", "k8s-no-added-capabilities", *PINNED_IMAGE_RULES),
        component="components.kubernetes.fabric",
        reason="GKE A3 Mega TCPXO: Google's RxDM daemon moves GPU memory to and from the GPU NICs for NCCL; it "
        "runs as root with exactly the two capabilities Google's guide grants it",
    ),
)


@dataclass(frozen=True)
class ReviewedHostPath:
    """A host directory that a fabric's training pods mount (Pod Security `baseline` forbids every hostPath), as
    reviewed: the host path, where it is mounted, and by which container."""

    path: str
    mount_path: str
    sidecar: str | None
    """Only this reviewed sidecar (by name and image) may mount it; None: any container of the pod."""
    component: str
    reason: str


_GKE_GUIDES = "components.kubernetes.fabric (Google's GPUDirect-TCPXO and GPUDirect RDMA guides)"

REVIEWED_HOST_PATHS: tuple[ReviewedHostPath, ...] = (
    ReviewedHostPath(
        path="/home/kubernetes/bin/nvidia",
        mount_path="/usr/local/nvidia",
        sidecar=None,
        component=_GKE_GUIDES,
        reason="GKE A3 Mega and A3 Ultra: the NVIDIA libraries of the host's driver install, where the NCCL plugins "
        "the installers put on the node (and RxDM) expect them",
    ),
    ReviewedHostPath(
        path="/dev/aperture_devices",
        mount_path="/dev/aperture_devices",
        sidecar=None,
        component=_GKE_GUIDES,
        reason="GKE A3 Mega: the LLCM aperture devices nccl-tcpxo-installer binds on the host, for the FasTrak plugin",
    ),
    ReviewedHostPath(
        path="/sys",
        mount_path="/hostsysfs",
        sidecar="tcpxo-daemon",
        component=_GKE_GUIDES,
        reason="GKE A3 Mega: RxDM reads and tunes the GPU NICs through the host's sysfs",
    ),
    ReviewedHostPath(
        path="/proc/sys",
        mount_path="/hostprocsysfs",
        sidecar="tcpxo-daemon",
        component=_GKE_GUIDES,
        reason="GKE A3 Mega: RxDM sets the network sysctls of the host it serves",
    ),
    ReviewedHostPath(
        path="/home/kubernetes/bin/gib",
        mount_path="/usr/local/gib",
        sidecar=None,
        component=_GKE_GUIDES,
        reason="GKE A3 Ultra: the gIB NCCL plugin nccl-rdma-installer puts on the host",
    ),
)
"""Each lets the mounts it describes, and only those, through `k8s-no-host-path`: the pack admits a fabric pod's
hostPath volume when every container that mounts it is one reviewed here for that path and mount point."""


@dataclass(frozen=True)
class ReviewedNamespace:
    """A namespace of the project's own node agents that Pod Security Admission leaves `privileged`."""

    namespace: str
    component: str
    reason: str


REVIEWED_PRIVILEGED_NAMESPACES: tuple[ReviewedNamespace, ...] = (
    ReviewedNamespace(
        namespace="aiinfra-system",
        component="components.cluster (SYSTEM_NAMESPACE)",
        reason="node daemons (local NVMe RAID0 and provisioner, DCGM exporter) need the host; its privileged "
        "workloads are the REVIEWED_WORKLOADS above, which the pack checks one by one",
    ),
    ReviewedNamespace(
        namespace="gpu-operator",
        component="components.kubernetes.onprem_addons, components.azure.software (versions.GPU_OPERATOR)",
        reason="the NVIDIA GPU Operator's driver, container toolkit, device plugin and DCGM DaemonSets run "
        "privileged on every GPU node",
    ),
    ReviewedNamespace(
        namespace="nvidia-network-operator",
        component="components.kubernetes.onprem_addons, components.azure.software (versions.NETWORK_OPERATOR)",
        reason="the NVIDIA Network Operator's OFED driver and RDMA shared device plugin need the host's NICs",
    ),
)
"""Team namespaces are never among these: a team namespace that PSA leaves `privileged` must be held by an
admission policy instead (the pack's `k8s-privileged-namespace-admission`)."""


DEVICE_CAPABILITIES: Mapping[str, tuple[str, ...]] = {
    "rdma/shared_ib": ("IPC_LOCK",),
    "rdma/shared_roce": ("IPC_LOCK",),
}
"""Capabilities a container may add because it requests this device: verbs pin (lock) the memory they
register with the RDMA NIC."""


def reviewed_workload(workload: str, rule: str, images: Iterable[str]) -> ReviewedWorkload | None:
    """The reviewed exception that lets `workload` (namespace/name) through `rule`, if its images are the
    reviewed ones; None otherwise."""
    for entry in REVIEWED_WORKLOADS:
        if entry.workload == workload and rule in entry.rules and set(images) <= set(entry.images):
            return entry
    return None


def reviewed_sidecar(container: str, image: str, rule: str) -> ReviewedSidecar | None:
    """The reviewed sidecar a container is (same name and image), if `rule` is among those it is let through."""
    for entry in REVIEWED_SIDECARS:
        if entry.container == container and entry.image == image and rule in entry.rules:
            return entry
    return None


def workload_named(workload: str) -> ReviewedWorkload:
    """The reviewed daemon a component is about to create; a component creates none that is not reviewed."""
    return next(entry for entry in REVIEWED_WORKLOADS if entry.workload == workload)


def sidecar_named(container: str) -> ReviewedSidecar:
    """The reviewed sidecar a component is about to add to a pod."""
    return next(entry for entry in REVIEWED_SIDECARS if entry.container == container)


def reviewed_host_mount(path: str, mount_path: str, container: str, image: str) -> ReviewedHostPath | None:
    """The reviewed exception that lets `container` (running `image`) mount host `path` at `mount_path`, if any; a
    sidecar's path only for that sidecar with its reviewed name and image."""
    sidecar = next((s.container for s in REVIEWED_SIDECARS if s.container == container and s.image == image), None)
    for entry in REVIEWED_HOST_PATHS:
        if entry.path == path and entry.mount_path == mount_path and entry.sidecar in (None, sidecar):
            return entry
    return None
