"""Spot capacity diversification: instance types that can stand in for a pool's machine type.

EKS spreads a spot node group over every instance type it names (price-capacity-optimized allocation), so a
pool that names more than one type is interrupted less and finds capacity more often. A stand-in must give
every pod that fits the pool's machine type the same node: the same accelerator model and count, at least the
vCPUs and memory (cluster-autoscaler sizes a scale-up by the first type, so larger stand-ins only make it
conservative), instance-store NVMe wherever the pool stripes it, and the same CPU architecture (x86_64: the
pool's AMI type is per node group).
"""

from __future__ import annotations

from dataclasses import dataclass

from aiinfra.core.catalog import Fabric, NodeShape, machines

MAX_SPOT_ALTERNATIVES = 3
"""Stand-ins per pool, closest size first; EKS accepts up to 20 types per node group."""
MAX_VCPU_RATIO = 4
"""A stand-in has at most this many times the vCPUs of the pool's type, so a fallback stays affordable."""


@dataclass(frozen=True)
class InstanceType:
    machine_type: str
    accelerator: str
    """Accelerator model as the catalog names it, or "cpu"."""
    count: int
    vcpus: int
    memory_gib: int
    nvme_disks: int
    source: str


_G6 = "https://aws.amazon.com/ec2/instance-types/g6/ (2025-05)"
SPOT_STAND_INS: tuple[InstanceType, ...] = (
    # Same L4 count as the catalog's g6 shapes, larger hosts. g5 (A10G) and g6e (L40S) are other GPUs: excluded.
    InstanceType("g6.2xlarge", "L4", 1, 8, 32, 1, _G6),
    InstanceType("g6.4xlarge", "L4", 1, 16, 64, 1, _G6),
    InstanceType("g6.8xlarge", "L4", 1, 32, 128, 2, _G6),
    InstanceType("g6.24xlarge", "L4", 4, 96, 384, 4, _G6),
    # Same size as the default CPU machine (m7i.2xlarge: 8 vCPUs, 32 GiB), other families and CPU vendors.
    InstanceType("m6i.2xlarge", "cpu", 0, 8, 32, 0, "https://aws.amazon.com/ec2/instance-types/m6i/ (2025-05)"),
    InstanceType("m7a.2xlarge", "cpu", 0, 8, 32, 0, "https://aws.amazon.com/ec2/instance-types/m7a/ (2025-05)"),
    InstanceType("m6a.2xlarge", "cpu", 0, 8, 32, 0, "https://aws.amazon.com/ec2/instance-types/m6a/ (2025-05)"),
)
"""Machine types the catalog does not list, with the facts a stand-in check needs. They belong in the catalog
(aiinfra/core/catalog/data.py) once it can hold shapes that no accelerator request resolves to."""


def _known() -> dict[str, InstanceType]:
    catalog = {
        m.machine_type: InstanceType(
            m.machine_type, m.accelerator, m.count, m.vcpus, m.memory_gib, m.nvme_disks, m.source
        )
        for m in machines("aws")
    }
    return {**catalog, **{t.machine_type: t for t in SPOT_STAND_INS}}


def spot_stand_ins(shape: NodeShape) -> list[str]:
    """Instance types that can replace `shape.machine_type` in a spot pool, closest size first. None for EFA
    pools: their nodes share a placement group and every interface of one instance type."""
    if shape.fabric == Fabric.EFA or shape.machine_type is None:
        return []
    known = _known()
    primary = known.get(shape.machine_type)
    if primary is None:
        return []
    fitting = [
        t
        for t in known.values()
        if t.machine_type != primary.machine_type
        and (t.accelerator, t.count) == (primary.accelerator, primary.count)
        and primary.vcpus <= t.vcpus <= primary.vcpus * MAX_VCPU_RATIO
        and t.memory_gib >= primary.memory_gib
        and (t.nvme_disks > 0 or shape.local_nvme_disks == 0)
    ]
    fitting.sort(key=lambda t: (t.vcpus, t.memory_gib, t.machine_type))
    return [t.machine_type for t in fitting[:MAX_SPOT_ALTERNATIVES]]
