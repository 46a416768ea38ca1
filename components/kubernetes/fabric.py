"""Pod-side wiring of every accelerator fabric: what a pod on a pool of that fabric adds to its spec (resources,
environment, annotations, volumes, sidecars, capabilities), one table per fabric, beside the node-side installs
the cluster adapters make (EFA device plugin, GKE NCCL plugin installers and multi-networking, Network
Operator). Training and serving take their fabric wiring from here, never spell it themselves.

- EFA: `vpc.amazonaws.com/efa` per interface, 2 MiB huge pages and libfabric's EFA settings. The EFA device
  plugin hands the device over, so no capability is added.
- TCPXO (GKE A3 Mega): the 8 GPU NICs through multi-networking annotations, Google's `tcpxo-daemon` as a
  native sidecar, the host's NCCL plugin and `/dev/aperture_devices`, and the `NCCL_FASTRAK_*` settings of
  Google's release notes.
- GKE GPUDirect RDMA (A3 Ultra): the gVNIC and 8 RoCE NICs through multi-networking annotations, the host's
  gIB NCCL plugin (`/home/kubernetes/bin/gib`, installed by `nccl-rdma-installer`) and NVIDIA libraries, and
  the NCCL settings of the plugin's `set_nccl_env.sh`. No daemon and no capability.
- InfiniBand / RoCE (AKS, on-prem): `rdma/shared_ib` or `rdma/shared_roce` from the RDMA shared device plugin,
  IPC_LOCK (to pin memory for verbs), `NCCL_IB_HCA`.

hostPath volumes, the root daemon and IPC_LOCK pass no Pod Security level short of `privileged`: namespaces
of teams on such pools enforce `privileged` and get `components.kubernetes.admission`'s policy, which admits
`restricted` plus exactly this wiring.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from aiinfra.core.catalog import Fabric, NodeShape
from aiinfra.core.exceptions import sidecar_named
from components.kubernetes.meta import container_resources, env_vars

GKE_GPU_NICS = 8
"""GPU NICs of an A3 Mega or A3 Ultra node besides its primary one (Google's TCPXO and RDMA guides)."""
TCPXO_NETWORKS = tuple(f"vpc{i + 1}" for i in range(GKE_GPU_NICS))
"""GKE `Network` names of the A3 Mega GPU NICs, as Google's TCPXO guide names them."""
RDMA_NETWORKS = ("gvnic-1", *(f"rdma-{i}" for i in range(GKE_GPU_NICS)))
"""GKE `Network` names of the A3 Ultra extra NICs, as Google's RDMA guide names them."""

EFA_HUGEPAGES = "5120Mi"
"""2 MiB huge pages for libfabric's EFA provider, as in the EKS EFA guide's example pods
(https://docs.aws.amazon.com/eks/latest/userguide/node-efa.html, checked 2026-11)."""
EFA_ENV = {
    "FI_PROVIDER": "efa",
    "FI_EFA_USE_DEVICE_RDMA": "1",
    "FI_EFA_FORK_SAFE": "1",
    "NCCL_SOCKET_IFNAME": "^lo,docker",
}

TCPXO_DAEMON = sidecar_named("tcpxo-daemon")
"""Google's RxDM, with its reviewed exception (aiinfra.core.exceptions): root, NET_ADMIN."""
TCPXO_DAEMON_IMAGE = TCPXO_DAEMON.image
TCPXO_GPU_NICS = GKE_GPU_NICS
TCPXO_ENV = {
    # The "required NCCL configs" of the same release.
    "LD_LIBRARY_PATH": "/usr/local/nvidia/lib64",
    "NCCL_FASTRAK_CTRL_DEV": "eth0",
    "NCCL_FASTRAK_IFNAME": ",".join(f"eth{i + 1}" for i in range(TCPXO_GPU_NICS)),
    "NCCL_SOCKET_IFNAME": "eth0",
    "NCCL_CROSS_NIC": "0",
    "NCCL_ALGO": "Ring,Tree",
    "NCCL_PROTO": "Simple",
    "NCCL_MIN_NCHANNELS": "4",
    "NCCL_TUNER_PLUGIN": "libnccl-tuner.so",
    "NCCL_TUNER_CONFIG_PATH": "/usr/local/nvidia/lib64/a3plus_tuner_config.textproto",
    "NCCL_SHIMNET_GUEST_CONFIG_CHECKER_CONFIG_FILE": "/usr/local/nvidia/lib64/a3plus_guest_config.textproto",
    "NCCL_DYNAMIC_CHUNK_SIZE": "524288",
    "NCCL_P2P_NET_CHUNKSIZE": "524288",
    "NCCL_P2P_PCI_CHUNKSIZE": "524288",
    "NCCL_P2P_NVL_CHUNKSIZE": "1048576",
    "NCCL_FASTRAK_NUM_FLOWS": "2",
    "NCCL_FASTRAK_USE_SNAP": "1",
    "NCCL_FASTRAK_PLUGIN_ACCEPT_TIMEOUT_MS": "600000",
    "NCCL_FASTRAK_ENABLE_CONTROL_CHANNEL": "0",
    "NCCL_BUFFSIZE": "8388608",
    "CUDA_VISIBLE_DEVICES": "0,1,2,3,4,5,6,7",
    "NCCL_NET_GDR_LEVEL": "PIX",
    "NCCL_FASTRAK_ENABLE_HOTPATH_LOGGING": "0",
    "NCCL_FASTRAK_USE_LLCM": "1",
    "NCCL_FASTRAK_LLCM_DEVICE_DIRECTORY": "/dev/aperture_devices",
    "NCCL_NVLS_ENABLE": "0",
}
TCPXO_DAEMON_DEVICES = [
    *(f"/dev/nvidia{i}" for i in range(TCPXO_GPU_NICS)),
    "/dev/nvidiactl",
    "/dev/nvidia-uvm",
    "/dev/dmabuf_import_helper",
]
"""Devices the NRI device injector (installed with the cluster's TCPXO pools) gives the daemon container."""

GIB_TUNER_CONFIGS = {"H200": "/usr/local/gib/configs/tuner_config_a3u.txtpb"}
"""The gIB plugin's NCCL tuner file per GPU (`NCCL_TUNER_CONFIG_PATH`): A3 Ultra (H200); A4 (B200) would
take tuner_config_a4.txtpb."""
GIB_ENV = {
    # What the gIB plugin's /usr/local/gib/scripts/set_nccl_env.sh sets (GKE "GPUDirect RDMA" guide, Google's
    # gpu-recipes A3 Ultra NCCL test images, checked 2026-12); GKE names the pod's gVNICs eth0 and eth1.
    "LD_LIBRARY_PATH": "/usr/local/nvidia/lib64:/usr/local/gib/lib64",
    "NCCL_NET": "gIB",
    "NCCL_SOCKET_IFNAME": "eth0,eth1",
    "NCCL_CROSS_NIC": "0",
    "NCCL_NET_GDR_LEVEL": "PIX",
    "NCCL_P2P_NET_CHUNKSIZE": "131072",
    "NCCL_NVLS_CHUNKSIZE": "524288",
    "NCCL_IB_ADAPTIVE_ROUTING": "1",
    "NCCL_IB_QPS_PER_CONNECTION": "4",
    "NCCL_IB_TC": "52",
    "NCCL_IB_FIFO_TC": "84",
}

RDMA_RESOURCES = {Fabric.INFINIBAND: "rdma/shared_ib", Fabric.RDMA: "rdma/shared_roce"}
"""The RDMA shared device plugin's resources (Network Operator NicClusterPolicy on AKS and on-prem)."""
NCCL_IB_HCA = {"azure": "mlx5_ib", "onprem": "mlx5"}
"""ND H100 v5 names its InfiniBand HCAs mlx5_ib0-7 (its accelerated-networking NIC mlx5_an0 must not be
used); on-prem ConnectX HCAs are mlx5_*."""


@dataclass(frozen=True)
class FabricWiring:
    """What a fabric adds to a pod: merged into the pod's own resources, env, volumes and containers."""

    resources: dict[str, str] = field(default_factory=dict)
    """Extended resources requested (and limited) per pod, beside the accelerators."""
    env: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    volumes: tuple[dict[str, Any], ...] = ()
    mounts: tuple[dict[str, Any], ...] = ()
    """Mounts of `volumes` in the workload's container."""
    init_containers: tuple[dict[str, Any], ...] = ()
    """Native sidecars (`restartPolicy: Always`) the fabric needs beside the workload."""
    capabilities: tuple[str, ...] = ()
    """Linux capabilities the workload's container adds to its dropped ALL."""


def interfaces_annotation(fabric: Fabric) -> str:
    """Value of the `networking.gke.io/interfaces` pod annotation attaching every NIC of a fabric's nodes."""
    names = {Fabric.TCPXO: TCPXO_NETWORKS, Fabric.RDMA: RDMA_NETWORKS}.get(fabric, ())
    interfaces = [{"interfaceName": "eth0", "network": "default"}]
    interfaces += [{"interfaceName": f"eth{i + 1}", "network": name} for i, name in enumerate(names)]
    return json.dumps(interfaces, separators=(",", ":"))


def pod_security_level(shape: NodeShape) -> str:
    """The Pod Security Admission level the team's namespace needs (`TenancyArgs.pod_security`) for training
    pods on this pool: hostPath volumes (TCPXO, GKE RDMA) and IPC_LOCK (InfiniBand, RoCE) pass only `privileged`,
    which the fabric admission policy then narrows to `restricted` plus the pool's wiring."""
    return "privileged" if shape.fabric in (Fabric.TCPXO, *RDMA_RESOURCES) else "restricted"


def pod_wiring(shape: NodeShape) -> FabricWiring:
    """The wiring a pod on a pool of this shape needs for its fabric (none for TCP-only pools and TPUs)."""
    if shape.fabric == Fabric.EFA:
        return FabricWiring(
            resources={"vpc.amazonaws.com/efa": str(shape.fabric_interfaces), "hugepages-2Mi": EFA_HUGEPAGES},
            env=EFA_ENV,
        )
    if shape.fabric == Fabric.TCPXO:
        return FabricWiring(
            env=TCPXO_ENV,
            annotations={
                "networking.gke.io/default-interface": "eth0",
                "networking.gke.io/interfaces": interfaces_annotation(Fabric.TCPXO),
                "devices.gke.io/container.tcpxo-daemon": "".join(f"- path: {d}\n" for d in TCPXO_DAEMON_DEVICES),
            },
            volumes=(
                {"name": "nvidia-libraries", "hostPath": {"path": "/home/kubernetes/bin/nvidia"}},
                {"name": "aperture-devices", "hostPath": {"path": "/dev/aperture_devices"}},
                {"name": "sys", "hostPath": {"path": "/sys"}},
                {"name": "proc-sys", "hostPath": {"path": "/proc/sys"}},
            ),
            mounts=(
                {"name": "nvidia-libraries", "mountPath": "/usr/local/nvidia"},
                {"name": "aperture-devices", "mountPath": "/dev/aperture_devices"},
            ),
            init_containers=(_tcpxo_daemon(),),
        )
    if shape.fabric == Fabric.RDMA and shape.cloud == "gcp":
        return FabricWiring(
            env={**GIB_ENV, "NCCL_TUNER_CONFIG_PATH": GIB_TUNER_CONFIGS[shape.accelerator]},
            annotations={
                "networking.gke.io/default-interface": "eth0",
                "networking.gke.io/interfaces": interfaces_annotation(Fabric.RDMA),
            },
            volumes=(
                {"name": "nvidia-libraries", "hostPath": {"path": "/home/kubernetes/bin/nvidia"}},
                {"name": "gib", "hostPath": {"path": "/home/kubernetes/bin/gib"}},
            ),
            mounts=(
                {"name": "nvidia-libraries", "mountPath": "/usr/local/nvidia"},
                {"name": "gib", "mountPath": "/usr/local/gib"},
            ),
        )
    if shape.fabric in RDMA_RESOURCES:
        return FabricWiring(
            resources={RDMA_RESOURCES[shape.fabric]: "1"},
            env={"NCCL_IB_HCA": NCCL_IB_HCA[shape.cloud]},
            capabilities=("IPC_LOCK",),
        )
    return FabricWiring()


def _tcpxo_daemon() -> dict[str, Any]:
    """Google's tcpxo-daemon (RxDM) as a native sidecar: it must run for as long as NCCL does."""
    return {
        "name": TCPXO_DAEMON.container,
        "image": TCPXO_DAEMON_IMAGE,
        "restartPolicy": "Always",
        "command": ["/bin/sh", "-c"],
        "args": [
            "set -ex\nchmod 755 /fts/entrypoint_rxdm_container.sh\n"
            f"/fts/entrypoint_rxdm_container.sh --num_hops=2 --num_nics={TCPXO_GPU_NICS} --uid= --alsologtostderr"
        ],
        "env": env_vars({"LD_LIBRARY_PATH": "/usr/local/nvidia/lib64"}),
        "resources": container_resources("1", "2Gi"),
        "volumeMounts": [
            {"name": "nvidia-libraries", "mountPath": "/usr/local/nvidia"},
            {"name": "sys", "mountPath": "/hostsysfs"},
            {"name": "proc-sys", "mountPath": "/hostprocsysfs"},
        ],
        # The daemon runs as root with only the two capabilities Google's guide grants it.
        "securityContext": {
            "runAsUser": 0,
            "runAsNonRoot": False,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"], "add": list(TCPXO_DAEMON.capabilities)},
        },
    }
