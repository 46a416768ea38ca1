"""Accelerator catalog: (cloud, accelerator) → the node shape that provides it.

`resolve()` is the only way the rest of aiinfra turns a spec string such as "H100:8" or
"TPU-v5p:2x2x2" into machine types, fabric interface counts, local NVMe and prices. Every
refusal names what is available instead.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from aiinfra.core.catalog.data import (
    AKS_SYSTEM_POOL_MAX_NODES,
    AKS_SYSTEM_POOL_MIN_NODES,
    AZURE_ZONED_REGIONS,
    AZURE_ZONELESS_REGIONS,
    AZURE_ZONES,
    DEFAULT_CPU_MACHINE,
    MACHINES,
    ONPREM_ACCELERATORS,
    ONPREM_FABRICS,
    TPU_GENERATIONS,
)
from aiinfra.core.catalog.model import Fabric, MachineShape, Offered, Price, TpuGeneration
from aiinfra.core.vocab import CLOUDS

__all__ = [
    "CLOUDS",
    "AcceleratorRequest",
    "CatalogError",
    "Fabric",
    "MachineShape",
    "NodeShape",
    "Offered",
    "Price",
    "TpuGeneration",
    "TpuSlice",
    "aks_system_pool_nodes",
    "azure_region_zones",
    "gpu_models",
    "machine",
    "machines",
    "parse_accelerator",
    "resolve",
    "tpu_generation",
    "tpu_models",
    "zone_problem",
]

_MACHINES_BY_TYPE = {(m.cloud, m.machine_type): m for m in MACHINES}
FABRIC_OF_CLOUD = {
    Fabric.EFA: "aws",
    Fabric.TCPXO: "gcp",
}
MAX_ONPREM_GPUS_PER_NODE = 16
_DATA_FILE = "aiinfra/core/catalog/data.py"
_GPU_RE = re.compile(r"^(?P<model>[A-Za-z][A-Za-z0-9-]*?)(?::(?P<count>[^:]*))?$")
_TPU_RE = re.compile(r"^TPU-(?P<gen>[a-z0-9]+)(?::(?P<topology>.*))?$", re.IGNORECASE)


class CatalogError(ValueError):
    """One or more refusals, each as (field, message); the spec layer adds the path."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        super().__init__("; ".join(f"{field}: {msg}" for field, msg in problems))


@dataclass(frozen=True)
class AcceleratorRequest:
    kind: str
    """"gpu", "tpu" or "cpu"."""
    model: str
    count: int
    topology: str | None = None

    def __str__(self) -> str:
        if self.kind == "cpu":
            return "cpu"
        if self.kind == "tpu":
            return f"TPU-{self.model}:{self.topology}"
        return f"{self.model}:{self.count}"


@dataclass(frozen=True)
class TpuSlice:
    generation: str
    gke_accelerator: str
    topology: str
    chips: int
    hosts: int
    chips_per_host: int


@dataclass(frozen=True, kw_only=True)
class NodeShape:
    """What one node of a pool is, after the catalog resolved the request."""

    cloud: str
    machine_type: str | None
    """None on-prem, where the nodes already exist."""
    accelerator: str
    accelerators_per_node: int
    fabric: Fabric
    fabric_interfaces: int
    local_nvme_disks: int
    """Disks striped RAID0 for scratch; 0 when local NVMe is not used."""
    nvme_disk_gib: int
    price: Price | None
    """On-demand price per node-hour; None for on-prem (owned hardware)."""
    gpu_type: str | None = None
    tpu: TpuSlice | None = None
    vcpus: int | None = None
    """vCPUs of one node: the catalog's for cloud machines and TPU hosts, the spec's for on-prem nodes; None
    where nobody said (an on-prem pool without its node size)."""
    memory_gib: int | None = None
    """Memory of one node, known where `vcpus` is."""

    @property
    def is_gpu(self) -> bool:
        return self.tpu is None and self.accelerator != "cpu"


def azure_region_zones(region: str) -> tuple[str, ...] | None:
    """The availability zones of an Azure region: 1-3, none for a region without zones, None for a region
    the catalog does not list."""
    if region in AZURE_ZONED_REGIONS:
        return AZURE_ZONES
    return () if region in AZURE_ZONELESS_REGIONS else None


ZONE_LETTERS = "abcdef"
"""No AWS region has an availability zone past `f`, nor GCP a zone past `-f`."""


def zone_problem(cloud: str, region: str, zone: str) -> str | None:
    """Why `zone` is not a zone of `region` on `cloud` (a message naming the right form), or None."""
    if cloud in ("aws", "gcp"):
        separator = "" if cloud == "aws" else "-"
        if re.fullmatch(re.escape(f"{region}{separator}") + f"[{ZONE_LETTERS}]", zone):
            return None
        return f"{zone!r} — not a zone of {region}; {cloud} zones are {region}{separator}a … {region}{separator}f"
    if cloud == "azure":
        known = azure_region_zones(region)
        allowed = AZURE_ZONES if known is None else known
        if zone in allowed:
            return None
        return f"{zone!r} — {region} has zones {', '.join(allowed)}" if allowed else f"{region} has no zones; remove it"
    return None


def aks_system_pool_nodes(zone_count: int) -> tuple[int, int]:
    """(min, max) nodes of AKS's own System pool over `zone_count` zones."""
    low = max(AKS_SYSTEM_POOL_MIN_NODES, zone_count)
    return low, max(AKS_SYSTEM_POOL_MAX_NODES, low)


def machines(cloud: str) -> tuple[MachineShape, ...]:
    return tuple(m for m in MACHINES if m.cloud == cloud)


def machine(cloud: str, machine_type: str | None) -> MachineShape | None:
    """The catalog's entry for a machine type of a cloud (vCPUs, memory, accelerators, fabric, price); None for
    a type it does not list, on-prem nodes and TPU hosts."""
    return _MACHINES_BY_TYPE.get((cloud, machine_type or ""))


def gpu_models() -> tuple[str, ...]:
    models = {m.accelerator for m in MACHINES if m.accelerator != "cpu"} | set(ONPREM_ACCELERATORS)
    return tuple(sorted(models))


def tpu_models() -> tuple[str, ...]:
    """The TPU accelerators as quotas and pools name them: TPU-v5e, TPU-v5p, ..."""
    return tuple(sorted(f"TPU-{g.name}" for g in TPU_GENERATIONS))


def tpu_generation(name: str) -> TpuGeneration | None:
    return next((g for g in TPU_GENERATIONS if g.name == name.lower()), None)


def parse_accelerator(text: str) -> AcceleratorRequest:
    """Parse "H100:8", "TPU-v5p:2x2x2" or "cpu"; raise CatalogError naming the accepted forms."""
    text = text.strip()
    if text.lower() == "cpu":
        return AcceleratorRequest("cpu", "cpu", 0)
    tpu = _TPU_RE.match(text)
    if tpu:
        gen = tpu_generation(tpu["gen"])
        if gen is None:
            known = ", ".join(tpu_models())
            raise CatalogError([("accelerator", f"{text!r} — unknown TPU generation; known: {known}")])
        topology = (tpu["topology"] or "").lower()
        if topology not in gen.topologies:
            raise CatalogError(
                [
                    (
                        "accelerator",
                        (
                            f"{text!r} — TPU {gen.name} slices come in topologies {', '.join(gen.topologies)} "
                            f"(write e.g. TPU-{gen.name}:{gen.topologies[1]})"
                        ),
                    )
                ]
            )
        chips = math.prod(int(d) for d in topology.split("x"))
        return AcceleratorRequest("tpu", gen.name, chips, topology)
    gpu = _GPU_RE.match(text)
    known = gpu_models()
    model = gpu["model"] if gpu else None
    canonical = next((k for k in known if model and k.lower() == model.lower()), None)
    if gpu is None or canonical is None:
        raise CatalogError(
            [
                (
                    "accelerator",
                    (
                        f"{text!r} — unknown accelerator; write MODEL:COUNT with a model from {', '.join(known)}, "
                        f"TPU-GEN:TOPOLOGY (TPU-v5p:2x2x2, TPU-v6e:4x4) or cpu"
                    ),
                )
            ]
        )
    count = gpu["count"]
    if count is None or not count.isdigit() or int(count) < 1:
        raise CatalogError(
            [("accelerator", (f"{text!r} — give the accelerators per node as a positive integer, e.g. {canonical}:8"))]
        )
    return AcceleratorRequest("gpu", canonical, int(count))


def _counts_phrase(shapes: list[MachineShape], cloud: str) -> str:
    counts = sorted({m.count for m in shapes})
    listed = ", ".join(str(c) for c in counts[:-1]) + (" or " if len(counts) > 1 else "") + str(counts[-1])
    detail = ", ".join(f"{m.machine_type}: {m.count}" for m in sorted(shapes, key=lambda m: m.count))
    return f"{listed} per node on {cloud} ({detail})"


def _fabric_for(shape_fabric: Fabric, requested: Fabric, what: str) -> tuple[Fabric | None, str | None]:
    """Resolve a requested fabric against what the machine has; an explicit mismatch is an error."""
    if requested in (Fabric.AUTO, shape_fabric):
        return shape_fabric, None
    if requested == Fabric.NONE:
        return Fabric.NONE, None
    has = f"has {shape_fabric.value}" if shape_fabric != Fabric.NONE else "has no accelerator fabric"
    fix = f"use fabric: auto or {shape_fabric.value}" if shape_fabric != Fabric.NONE else "use fabric: none"
    return None, f"{requested.value!r} — {what} {has}; {fix}"


def _nvme_for(disks: int, requested: str, what: str) -> tuple[int, str | None]:
    if requested == "none":
        return 0, None
    if disks == 0:
        if requested == "auto":
            return 0, None
        return 0, f"'raid0' — {what} has no local NVMe disks; use local_nvme: none"
    return disks, None


def _offered_in(shape: MachineShape, region: str | None, zones: Sequence[str]) -> bool:
    """False only where the catalog lists where the type is sold and the place is not among them."""
    offered = shape.offered
    if offered is None or region is None or not offered.regions:
        return True
    return region in offered.regions and (not offered.zones or all(z in offered.zones for z in zones))


def _pick_machine(
    cloud: str,
    req: AcceleratorRequest,
    machine_type: str | None,
    fabric: Fabric,
    region: str | None,
    zones: Sequence[str],
) -> MachineShape:
    own = machines(cloud)
    if req.kind == "cpu":
        name = machine_type or DEFAULT_CPU_MACHINE[cloud]
        shape = next((m for m in own if m.machine_type == name and m.accelerator == "cpu"), None)
        if shape is None:
            cpu = ", ".join(m.machine_type for m in own if m.accelerator == "cpu")
            raise CatalogError(
                [("machine_type", f"{name!r} — not a CPU machine type in the {cloud} catalog; known: {cpu}")]
            )
        return shape
    of_model = [m for m in own if m.accelerator == req.model]
    if not of_model:
        offered = sorted({m.accelerator for m in own if m.accelerator != "cpu"})
        elsewhere = sorted({m.cloud for m in MACHINES if m.accelerator == req.model})
        where = f"; {req.model} is offered on {', '.join(elsewhere)}" if elsewhere else ""
        raise CatalogError(
            [
                (
                    "accelerator",
                    (
                        f"{str(req)!r} — {cloud} offers no {req.model}{where}. On {cloud} choose from "
                        f"{', '.join(offered)}"
                    ),
                )
            ]
        )
    fitting = [m for m in of_model if m.count == req.count]
    if not fitting:
        raise CatalogError([("accelerator", (f"{str(req)!r} — {req.model} comes {_counts_phrase(of_model, cloud)}"))])
    if machine_type:
        shape = next((m for m in fitting if m.machine_type == machine_type), None)
        if shape is None:
            raise CatalogError(
                [
                    (
                        "machine_type",
                        (
                            f"{machine_type!r} — does not provide {req}; on {cloud} that is "
                            f"{', '.join(m.machine_type for m in fitting)}"
                        ),
                    )
                ]
            )
        return shape
    if fabric not in (Fabric.AUTO, Fabric.NONE):
        fitting = [m for m in fitting if m.fabric == fabric] or fitting
    sold_here = [m for m in fitting if _offered_in(m, region, zones)]
    return (sold_here or fitting)[0]


def _place_problems(
    shape: MachineShape, region: str | None, zones: Sequence[str], field: str, value: str
) -> list[tuple[str, str]]:
    """Refuse a region (or zone) the catalog does not list for the machine type, naming where it is sold."""
    offered = shape.offered
    if offered is None or _offered_in(shape, region, zones):
        return []
    per = f"per the catalog ({offered.source}, {offered.as_of})"
    if region not in offered.regions:
        return [
            (
                field,
                (
                    f"{value!r} — {shape.machine_type} is not offered in {region} {per}; offered in: "
                    f"{', '.join(offered.regions)}; pick one of them, or add the region to {_DATA_FILE} with its source"
                ),
            )
        ]
    here = ", ".join(z for z in offered.zones if z.startswith(f"{region}-"))
    return [
        (
            "zone",
            (
                f"{zone!r} — {shape.machine_type} is not offered in zone {zone} {per}; in {region} it is offered in: "
                f"{here}; set the pool's zone to one of them, or add the zone to {_DATA_FILE} with its source"
            ),
        )
        for zone in zones
        if zone not in offered.zones
    ]


def _resolve_tpu(cloud: str, req: AcceleratorRequest, fabric: Fabric, local_nvme: str) -> NodeShape:
    problems: list[tuple[str, str]] = []
    if cloud != "gcp":
        gpus = sorted({m.accelerator for m in machines(cloud) if m.accelerator != "cpu"}) or ["(declare on-prem GPUs)"]
        raise CatalogError(
            [
                (
                    "accelerator",
                    (f"{str(req)!r} — TPUs exist only on gcp; on {cloud} choose a GPU: {', '.join(gpus)}"),
                )
            ]
        )
    gen = tpu_generation(req.model)
    assert gen is not None and req.topology is not None
    if fabric not in (Fabric.AUTO, Fabric.NONE):
        problems.append(("fabric", f"{fabric.value!r} — TPU slices talk over their own ICI links; use fabric: auto"))
    if local_nvme == "raid0":
        problems.append(("local_nvme", "'raid0' — TPU hosts have no local NVMe disks; use local_nvme: none"))
    if problems:
        raise CatalogError(problems)
    # Single-host slices use the machine type with exactly that many chips; multi-host slices use
    # hosts of `chips_per_host` chips each.
    per_host = req.count if req.count in gen.machine_types else gen.chips_per_host
    hosts = req.count // per_host
    tpu = TpuSlice(gen.name, gen.gke_accelerator, req.topology, req.count, hosts, per_host)
    price = Price(gen.price_per_chip.usd_per_hour * per_host, gen.price_per_chip.source, gen.price_per_chip.as_of)
    machine_type = gen.machine_types[per_host]
    vcpus, memory_gib = gen.host_sizes[machine_type]
    return NodeShape(
        cloud=cloud,
        machine_type=machine_type,
        accelerator=f"TPU-{gen.name}",
        accelerators_per_node=per_host,
        fabric=Fabric.NONE,
        fabric_interfaces=0,
        local_nvme_disks=0,
        nvme_disk_gib=0,
        price=price,
        tpu=tpu,
        vcpus=vcpus,
        memory_gib=memory_gib,
    )


def _resolve_onprem(
    req: AcceleratorRequest, fabric: Fabric, local_nvme: str, node_size: tuple[int, int] | None
) -> NodeShape:
    problems: list[tuple[str, str]] = []
    if req.kind == "gpu" and req.model not in ONPREM_ACCELERATORS:
        problems.append(
            ("accelerator", f"{str(req)!r} — on-prem pools declare one of {', '.join(ONPREM_ACCELERATORS)}")
        )
    if req.count > MAX_ONPREM_GPUS_PER_NODE:
        problems.append(("accelerator", f"{str(req)!r} — at most {MAX_ONPREM_GPUS_PER_NODE} GPUs per node"))
    if fabric == Fabric.AUTO and req.kind == "gpu":
        problems.append(
            (
                "fabric",
                (
                    "'auto' — the fabric of existing on-prem nodes cannot be looked up; declare "
                    f"{', '.join(f.value for f in ONPREM_FABRICS)}"
                ),
            )
        )
    elif fabric not in (*ONPREM_FABRICS, Fabric.AUTO):
        problems.append(
            (
                "fabric",
                (
                    f"{fabric.value!r} — {fabric.value} exists only on {FABRIC_OF_CLOUD[fabric]}; on-prem use "
                    f"{', '.join(f.value for f in ONPREM_FABRICS)}"
                ),
            )
        )
    if problems:
        raise CatalogError(problems)
    return NodeShape(
        cloud="onprem",
        machine_type=None,
        accelerator=req.model,
        accelerators_per_node=req.count,
        fabric=Fabric.NONE if fabric == Fabric.AUTO else fabric,
        fabric_interfaces=0,
        local_nvme_disks=0,
        nvme_disk_gib=0,
        price=None,
        vcpus=node_size[0] if node_size else None,
        memory_gib=node_size[1] if node_size else None,
    )


def resolve(
    cloud: str,
    accelerator: str,
    *,
    machine_type: str | None = None,
    fabric: str | Fabric = Fabric.AUTO,
    local_nvme: str = "auto",
    region: str | None = None,
    zones: Sequence[str] = (),
    node_size: tuple[int, int] | None = None,
) -> NodeShape:
    """Resolve one node pool request; raise CatalogError with every refusal and its fix.

    `node_size` is (vCPUs, memory GiB) of an on-prem pool's existing nodes; the catalog sizes cloud machines.

    With `region` (and the `zones` the pool's nodes may land in), a GPU machine type the catalog lists
    elsewhere only is refused; among equal machine types, one sold there is preferred.
    """
    if cloud not in CLOUDS:
        raise CatalogError([("cloud", f"{cloud!r} — choose one of {', '.join(CLOUDS)}")])
    fabric = Fabric(fabric)
    req = parse_accelerator(accelerator)
    if node_size is not None and cloud != "onprem":
        raise CatalogError([("node", f"on-prem only; the catalog sizes {cloud} machines, remove it")])
    if req.kind == "tpu":
        return _resolve_tpu(cloud, req, fabric, local_nvme)
    if cloud == "onprem":
        return _resolve_onprem(req, fabric, local_nvme, node_size)
    if fabric in FABRIC_OF_CLOUD and FABRIC_OF_CLOUD[fabric] != cloud:
        own = sorted({m.fabric.value for m in machines(cloud) if m.fabric != Fabric.NONE})
        raise CatalogError(
            [
                (
                    "fabric",
                    (
                        f"{fabric.value!r} — {fabric.value} exists only on {FABRIC_OF_CLOUD[fabric]}; "
                        f"{cloud} GPU fabrics are {', '.join(own)}"
                    ),
                )
            ]
        )
    shape = _pick_machine(cloud, req, machine_type, fabric, region, zones)
    problems = _place_problems(
        shape, region, zones, "machine_type" if machine_type else "accelerator", machine_type or str(req)
    )
    resolved_fabric, fabric_problem = _fabric_for(shape.fabric, fabric, shape.machine_type)
    if fabric_problem:
        problems.append(("fabric", fabric_problem))
    disks, nvme_problem = _nvme_for(shape.nvme_disks, local_nvme, shape.machine_type)
    if nvme_problem:
        problems.append(("local_nvme", nvme_problem))
    if problems:
        raise CatalogError(problems)
    return NodeShape(
        cloud=cloud,
        machine_type=shape.machine_type,
        accelerator=shape.accelerator,
        accelerators_per_node=shape.count,
        fabric=resolved_fabric or Fabric.NONE,
        fabric_interfaces=shape.fabric_interfaces if resolved_fabric == shape.fabric else 0,
        local_nvme_disks=disks,
        nvme_disk_gib=shape.nvme_disk_gib,
        price=shape.price,
        gpu_type=shape.gpu_type,
        vcpus=shape.vcpus,
        memory_gib=shape.memory_gib,
    )
