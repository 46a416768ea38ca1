"""Typed catalog records. Plain frozen dataclasses: importing them costs nothing."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Fabric(StrEnum):
    """The node-to-node accelerator fabric of a pool. AUTO resolves to what the machine has."""

    AUTO = "auto"
    EFA = "efa"
    TCPXO = "tcpxo"
    RDMA = "rdma"
    INFINIBAND = "infiniband"
    NONE = "none"


@dataclass(frozen=True)
class Price:
    usd_per_hour: float
    source: str
    as_of: str


@dataclass(frozen=True, kw_only=True)
class Offered:
    """Where a machine type is offered, as one catalog snapshot lists it."""

    regions: tuple[str, ...]
    """Empty: the snapshot does not list the type, so its regions are unknown and not checked."""
    zones: tuple[str, ...] = ()
    """Zone names, where the snapshot gives them (GCP); empty: zones are not checked."""
    source: str
    as_of: str


@dataclass(frozen=True, kw_only=True)
class MachineShape:
    """One machine type of one cloud, as its vendor documents it."""

    cloud: str
    machine_type: str
    accelerator: str
    """Accelerator model ("H100", "A100-80GB") or "cpu"."""
    count: int
    """Accelerators per node."""
    vcpus: int
    memory_gib: int
    fabric: Fabric
    fabric_interfaces: int
    """EFA interfaces (one per network card), TCPXO/RDMA NICs, or InfiniBand ports."""
    nvme_disks: int
    nvme_disk_gib: int
    price: Price
    source: str
    gpu_type: str | None = None
    """The cloud's own accelerator name where its API needs one (GCP guest accelerator type)."""
    fabric_gbps_per_interface: int | None = None
    offered: Offered | None = None
    """Regions (and zones) the type is sold in; None for CPU types, which are not checked."""


@dataclass(frozen=True, kw_only=True)
class TpuGeneration:
    name: str
    gke_accelerator: str
    """Value of the `cloud.google.com/gke-tpu-accelerator` node label."""
    chips_per_host: int
    """Chips per host of multi-host slices."""
    dimensions: int
    machine_types: dict[int, str]
    """Machine type by chips on one host."""
    host_sizes: dict[str, tuple[int, int]]
    """(vCPUs, memory GiB) of each machine type's host."""
    topologies: tuple[str, ...]
    price_per_chip: Price
    source: str


@dataclass(frozen=True)
class StoragePrice:
    usd_per_gib_month: float
    source: str
    as_of: str
