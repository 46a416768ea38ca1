"""AKS agent pools for aiinfra pools: VM size from the catalog, GPU driver left to the GPU Operator,
accelerator taint and labels, autoscaling from zero, spot for sizes without InfiniBand, encryption at host."""

from __future__ import annotations

import re
from collections.abc import Sequence

import pulumi

from aiinfra.core.catalog import Fabric, machines
from aiinfra.core.catalog.data import AKS_SYSTEM_POOL_NAME as SYSTEM_POOL_NAME
from components.common import ArgProblems, Taint
from components.contracts import NodePoolArgs

CAPACITY_TYPES = ("on-demand", "spot", "reservation")
"""capacity-block is an AWS purchase option; Azure reserves capacity with capacity reservation groups."""
GPU_TAINT = Taint("nvidia.com/gpu", "present", "NoSchedule")
SPOT_TAINT = Taint("kubernetes.azure.com/scalesetpriority", "spot", "NoSchedule")
"""AKS puts it on every node of a spot pool and it cannot be removed
(https://learn.microsoft.com/azure/aks/spot-node-pool); stated here so the pool's tolerations follow."""
LOCAL_NVME_LABEL = "aiinfra.dev/local-nvme"
"""Set to `raid0` on nodes whose local NVMe disks the RAID0 DaemonSet stripes and mounts."""
MAX_POOL_NAME = 12
"""AKS Linux agent pool names: lower-case letters and digits, starting with a letter, at most 12."""
MAX_NODES_PER_POOL = 1000
GPU_OS_DISK_GIB = 256
"""CUDA images and the driver container are large."""
CPU_OS_DISK_GIB = 128
EPHEMERAL_OS_DISK_SIZES = {
    "Standard_ND96isr_H100_v5",
    "Standard_ND96isr_H200_v5",
    "Standard_ND96amsr_A100_v4",
}
"""VM sizes whose local temp disk (not their NVMe data disks, which the RAID0 array takes) holds a
`GPU_OS_DISK_GIB` ephemeral OS disk. Sizes not listed get a managed OS disk. Source: the Azure VM size pages
(https://learn.microsoft.com/azure/virtual-machines/sizes/gpu-accelerated/), 2025."""
RESERVATION_ID = re.compile(
    r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Compute/capacityReservationGroups/[^/]+$",
    re.IGNORECASE,
)


def agent_pool_name(pool_name: str) -> str:
    """The AKS name of an aiinfra pool: its letters and digits, lower-case, at most 12."""
    return re.sub(r"[^a-z0-9]", "", pool_name.lower())[:MAX_POOL_NAME]


def node_labels(pool: NodePoolArgs) -> dict[str, str]:
    labels = {
        "aiinfra.dev/pool": pool.name,
        "aiinfra.dev/accelerator": pool.shape.accelerator,
        "aiinfra.dev/fabric": pool.shape.fabric.value,
    }
    if pool.shape.is_gpu:
        labels["nvidia.com/gpu.present"] = "true"
    if pool.shape.local_nvme_disks > 0:
        labels[LOCAL_NVME_LABEL] = "raid0"
    return {**labels, **pool.labels}


def imposed_taints(pool: NodePoolArgs) -> tuple[Taint, ...]:
    """Taints AKS itself puts on the pool's nodes (besides the accelerator's): the spot taint."""
    return (SPOT_TAINT,) if pool.capacity_type == "spot" else ()


def node_taints(pool: NodePoolArgs) -> tuple[Taint, ...]:
    return ((GPU_TAINT,) if pool.shape.is_gpu else ()) + imposed_taints(pool) + tuple(pool.taints)


def taint_strings(taints: Sequence[Taint]) -> list[str]:
    """AKS spells taints `key=value:Effect`."""
    return [f"{t.key}={t.value}:{t.effect}" if t.value else f"{t.key}:{t.effect}" for t in taints]


def uses_infiniband(pool: NodePoolArgs) -> bool:
    return pool.shape.fabric == Fabric.INFINIBAND


def pool_problems(
    problems: ArgProblems, path: tuple[str | int, ...], pool: NodePoolArgs, cluster_zones: Sequence[str]
) -> None:
    """Record every problem of one pool under `path`."""
    shape = pool.shape
    if shape.cloud != "azure":
        problems.check(False, path, f"shape is for {shape.cloud}; this is an Azure cluster")
        return
    known = {m.machine_type: m for m in machines("azure")}
    machine = known.get(shape.machine_type or "")
    problems.check(
        machine is not None,
        (*path, "shape"),
        f"{shape.machine_type!r} — not an Azure VM size the catalog knows: {', '.join(sorted(known))}",
    )
    if shape.fabric == Fabric.INFINIBAND and machine is not None:
        has_ib = machine.fabric == Fabric.INFINIBAND and shape.fabric_interfaces > 0
        ib_sizes = sorted(m for m, s in known.items() if s.fabric == Fabric.INFINIBAND)
        problems.check(
            has_ib,
            (*path, "shape", "fabric"),
            f"'infiniband' — {shape.machine_type} has no InfiniBand ports; use one of {', '.join(ib_sizes)}",
        )
    elif shape.fabric != Fabric.INFINIBAND:
        problems.check(
            shape.fabric == Fabric.NONE,
            (*path, "shape", "fabric"),
            f"{shape.fabric.value!r} — Azure GPU fabrics are infiniband or none",
        )
    known_capacity = pool.capacity_type in CAPACITY_TYPES
    problems.check(
        known_capacity,
        (*path, "capacity_type"),
        f"{pool.capacity_type!r} — choose one of {', '.join(CAPACITY_TYPES)}"
        + (" (capacity blocks are an AWS offer)" if pool.capacity_type == "capacity-block" else ""),
    )
    problems.check(
        not (pool.capacity_type == "spot" and uses_infiniband(pool)),
        (*path, "capacity_type"),
        (
            f"'spot' — {shape.machine_type} nodes train over InfiniBand, and evicting one stops the whole job; "
            "use on-demand or reservation"
        ),
    )
    if pool.capacity_type == "reservation":
        problems.check(
            bool(pool.reservation_id and RESERVATION_ID.match(pool.reservation_id)),
            (*path, "reservation_id"),
            f"{pool.reservation_id!r} — give the resource id of a capacity reservation group "
            "(/subscriptions/…/providers/Microsoft.Compute/capacityReservationGroups/…)",
        )
    elif known_capacity:  # an unknown capacity type is one problem, not two
        problems.check(
            pool.reservation_id is None,
            (*path, "reservation_id"),
            f"{pool.reservation_id!r} — only reservation pools use a reservation",
        )
    problems.check(
        0 <= pool.min_nodes <= pool.max_nodes,
        (*path, "min_nodes"),
        f"need 0 <= min_nodes ({pool.min_nodes}) <= max_nodes ({pool.max_nodes})",
    )
    problems.check(
        1 <= pool.max_nodes <= MAX_NODES_PER_POOL,
        (*path, "max_nodes"),
        f"{pool.max_nodes} — AKS pools scale between 1 and {MAX_NODES_PER_POOL} nodes at most",
    )
    if pool.zone is not None:
        problems.check(
            pool.zone in cluster_zones,
            (*path, "zone"),
            f"{pool.zone!r} — not one of the cluster's zones {', '.join(cluster_zones)}"
            if cluster_zones
            else f"{pool.zone!r} — the cluster's region has no availability zones; remove zone",
        )
    aks_name = agent_pool_name(pool.name)
    problems.check(
        bool(re.match(r"^[a-z][a-z0-9]*$", aks_name)),
        (*path, "name"),
        f"{pool.name!r} — AKS pool names start with a letter; rename the pool",
    )
    problems.check(
        aks_name != SYSTEM_POOL_NAME,
        (*path, "name"),
        f"{pool.name!r} — {SYSTEM_POOL_NAME!r} is the cluster's own system pool; rename the pool",
    )
    problems.check_taints(path, pool.taints)


def pool_zones(pool: NodePoolArgs, cluster_zones: Sequence[str]) -> list[str] | None:
    """InfiniBand does not span zones: IB pools sit in one zone (theirs or the cluster's first). None in a
    region without zones."""
    if pool.zone:
        return [pool.zone]
    if not cluster_zones:
        return None
    return [cluster_zones[0]] if uses_infiniband(pool) else list(cluster_zones)


def agent_pool_args(
    pool: NodePoolArgs,
    *,
    cluster_zones: Sequence[str],
    kubernetes_version: str,
    vnet_subnet_id: pulumi.Input[str],
    tags: dict[str, str],
) -> dict:
    """Keyword arguments of `containerservice.AgentPool` (the cluster and resource group aside)."""
    shape = pool.shape
    ephemeral = shape.machine_type in EPHEMERAL_OS_DISK_SIZES
    spot = pool.capacity_type == "spot"
    return {
        "agent_pool_name": agent_pool_name(pool.name),
        "mode": "User",
        "vm_size": shape.machine_type,
        "os_type": "Linux",
        # The GPU Operator's driver container and the DOCA-OFED driver container are built for Ubuntu.
        "os_sku": "Ubuntu",
        "orchestrator_version": kubernetes_version,
        "type": "VirtualMachineScaleSets",
        "availability_zones": pool_zones(pool, cluster_zones),
        "vnet_subnet_id": vnet_subnet_id,
        "enable_auto_scaling": True,
        "min_count": pool.min_nodes,
        "max_count": pool.max_nodes,
        "count": pool.min_nodes,
        "enable_encryption_at_host": True,
        "enable_node_public_ip": False,
        "os_disk_type": "Ephemeral" if ephemeral else "Managed",
        "os_disk_size_gb": GPU_OS_DISK_GIB if shape.is_gpu else CPU_OS_DISK_GIB,
        # The GPU Operator installs the driver (and, with InfiniBand, GPUDirect RDMA); the AKS-installed
        # driver and the operator cannot coexist.
        "gpu_profile": {"driver": "None"} if shape.is_gpu else None,
        "node_labels": node_labels(pool),
        "node_taints": taint_strings(node_taints(pool)),
        "scale_set_priority": "Spot" if spot else "Regular",
        "scale_set_eviction_policy": "Delete" if spot else None,
        # -1: pay up to the on-demand price, never evicted for price.
        "spot_max_price": -1 if spot else None,
        "capacity_reservation_group_id": pool.reservation_id if pool.capacity_type == "reservation" else None,
        # GPU capacity is scarce: replace nodes one at a time instead of surging an extra GPU VM.
        "upgrade_settings": {"max_surge": "0", "max_unavailable": "1"} if shape.is_gpu else {"max_surge": "33%"},
        "security_profile": {"ssh_access": "Disabled"},
        "tags": {**tags, "aiinfra-pool": pool.name},
    }
