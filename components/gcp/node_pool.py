"""GKE node pools for aiinfra pools: GPU pools (driver installation, gVNIC, extra NICs for TCPXO / RDMA,
compact placement, reservations, spot, local SSD as ephemeral storage), TPU slices (one pool per slice,
topology placement) and CPU pools, all with shielded nodes, the GKE metadata server and a narrow node
service account."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import cast

import pulumi
import pulumi_gcp as gcp

from aiinfra.core import catalog
from aiinfra.core.catalog import Fabric, machines, tpu_generation
from aiinfra.core.vocab import CAPACITY_TYPES, TaintEffect
from components.common import ArgProblems, Taint
from components.contracts import NodePoolArgs
from components.gcp.network import GkeNic

"""capacity-block pools consume a calendar-mode future reservation, which GKE targets like a reservation."""
RESERVED = ("reservation", "capacity-block")
NIC_FABRICS = (Fabric.TCPXO, Fabric.RDMA)
"""Fabrics whose nodes need extra NICs on their own networks, in one zone, compactly placed."""
GKE_TAINT_EFFECTS: dict[TaintEffect, str] = {
    "NoSchedule": "NO_SCHEDULE",
    "NoExecute": "NO_EXECUTE",
    "PreferNoSchedule": "PREFER_NO_SCHEDULE",
}
GPU_TAINT = Taint("nvidia.com/gpu", "present", "NoSchedule")
TPU_TAINT = Taint("google.com/tpu", "present", "NoSchedule")
RESERVATION_KEY = "compute.googleapis.com/reservation-name"
CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
"""With Workload Identity and a narrow node service account, IAM (not scopes) limits what nodes can do."""
IMAGE_TYPE = "COS_CONTAINERD"
"""Container-Optimized OS: the only node image GKE GPU driver installation and TCPXO support."""


@dataclass(frozen=True, kw_only=True)
class GkeNodePoolArgs:
    pool: NodePoolArgs
    """The pool: shape, sizes, capacity type, labels and taints (checked with `pool_problems`)."""
    cluster: pulumi.Input[str]
    """Id of the GKE cluster the pool belongs to."""
    region: str
    """Region of the (regional) cluster: the pool's location."""
    zones: tuple[str, ...]
    """Zones of the pool's nodes: one for fabric, TPU and reserved pools, else the cluster's zones."""
    service_account: pulumi.Input[str]
    """E-mail of the node service account."""
    additional_networks: Sequence[GkeNic] = ()
    """Extra NICs of each node, in NIC order. Defaults to none (only the primary gVNIC)."""
    boot_disk_gib: int | None = None
    """Boot disk size. Defaults to 200 GiB for accelerator nodes (CUDA and JAX images are large), 100 else."""
    labels: Mapping[str, str] = field(default_factory=dict)
    """GCP labels of the node VMs and disks (already label-safe)."""


def resolved_zone(pool: NodePoolArgs, cluster_zones: Sequence[str]) -> str | None:
    """The one zone of a pool: its own, else the cluster's first given zone."""
    return pool.zone or (cluster_zones[0] if cluster_zones else None)


def needs_one_zone(pool: NodePoolArgs) -> bool:
    return pool.shape.fabric in NIC_FABRICS or pool.shape.tpu is not None or pool.capacity_type in RESERVED


def pool_problems(
    problems: ArgProblems, path: tuple[str | int, ...], pool: NodePoolArgs, region: str, cluster_zones: Sequence[str]
) -> None:
    """Record every problem of one pool's plain values under `path`."""
    shape = pool.shape
    problems.check(shape.cloud == "gcp", path, f"shape is for {shape.cloud}, not gcp")
    problems.check(
        pool.capacity_type in CAPACITY_TYPES,
        (*path, "capacity_type"),
        f"{pool.capacity_type!r} — choose one of {', '.join(CAPACITY_TYPES)}",
    )
    if pool.capacity_type == "spot":
        problems.check(
            pool.reservation_id is None,
            (*path, "reservation_id"),
            f"{pool.reservation_id!r} — spot VMs cannot consume a reservation; use capacity_type reservation",
        )
    elif pool.capacity_type in RESERVED:
        problems.check(
            bool(pool.reservation_id),
            (*path, "reservation_id"),
            f"required with capacity_type {pool.capacity_type!r} (the reservation's name)",
        )
    else:
        problems.check(
            pool.reservation_id is None,
            (*path, "reservation_id"),
            f"{pool.reservation_id!r} — only reservation and capacity-block pools use a reservation",
        )
    problems.check(pool.max_nodes >= 1, (*path, "max_nodes"), f"{pool.max_nodes} — a pool needs at least 1")
    if pool.zone is not None:
        problems.check(pool.zone.startswith(f"{region}-"), (*path, "zone"), f"{pool.zone!r} — not a zone of {region}")
    if needs_one_zone(pool) and resolved_zone(pool, cluster_zones) is None:
        if shape.tpu is not None:
            why = "TPU slices"
        elif shape.fabric in NIC_FABRICS:
            why = f"{shape.fabric.value} nodes"
        else:
            why = "reservations"
        problems.check(
            False, (*path, "zone"), f"required: {why} live in one zone; give the pool (or the cluster) its zone"
        )
    for i, taint in enumerate(pool.taints):
        problems.check(
            taint.effect in GKE_TAINT_EFFECTS,
            (*path, "taints", i, "effect"),
            f"{taint.effect!r} — choose one of {', '.join(GKE_TAINT_EFFECTS)}",
        )
    if shape.tpu is not None:
        _tpu_problems(problems, path, pool)
    else:
        _fabric_problems(problems, path, pool)


def _fabric_problems(problems: ArgProblems, path: tuple[str | int, ...], pool: NodePoolArgs) -> None:
    shape = pool.shape
    if shape.fabric == Fabric.NONE:
        return
    if shape.fabric not in NIC_FABRICS:
        problems.check(False, (*path, "fabric"), f"{shape.fabric.value!r} — not a GKE fabric; GKE offers tcpxo, rdma")
        return
    machine = catalog.machine("gcp", shape.machine_type)
    if machine is None or machine.fabric != shape.fabric:
        has = f"has {machine.fabric.value}" if machine and machine.fabric != Fabric.NONE else "has no GPU NIC fabric"
        offering = ", ".join(m.machine_type for m in machines("gcp") if m.fabric == shape.fabric)
        problems.check(
            False,
            (*path, "fabric"),
            f"{shape.fabric.value!r} — {shape.machine_type} {has}; {shape.fabric.value} needs {offering}",
        )
        return
    problems.check(
        shape.fabric_interfaces >= machine.fabric_interfaces,
        (*path, "fabric_interfaces"),
        (
            f"{shape.fabric_interfaces} — too few extra networks: {machine.machine_type} has "
            f"{machine.fabric_interfaces} GPU NICs and each needs its own network"
        ),
    )


def _tpu_problems(problems: ArgProblems, path: tuple[str | int, ...], pool: NodePoolArgs) -> None:
    tpu = pool.shape.tpu
    assert tpu is not None
    generation = tpu_generation(tpu.generation)
    if generation is None or tpu.topology not in generation.topologies:
        valid = ", ".join(generation.topologies) if generation else "none (unknown generation)"
        problems.check(
            False,
            (*path, "shape", "tpu", "topology"),
            f"{tpu.topology!r} — not a TPU {tpu.generation} topology; valid: {valid}",
        )
    problems.check(
        pool.max_nodes == tpu.hosts and pool.min_nodes in (0, tpu.hosts),
        (*path, "max_nodes"),
        (
            f"min {pool.min_nodes}, max {pool.max_nodes} — a {tpu.topology} slice is {tpu.hosts} host(s) that "
            f"scale together; use min 0 or {tpu.hosts} and max {tpu.hosts} (one pool per slice)"
        ),
    )


def node_labels(pool: NodePoolArgs) -> dict[str, str]:
    labels = {
        "aiinfra.dev/pool": pool.name,
        "aiinfra.dev/accelerator": pool.shape.accelerator,
        "aiinfra.dev/fabric": pool.shape.fabric.value,
    }
    return {**labels, **pool.labels}


def node_taints(pool: NodePoolArgs) -> tuple[Taint, ...]:
    own = (TPU_TAINT,) if pool.shape.tpu else (GPU_TAINT,) if pool.shape.is_gpu else ()
    return own + tuple(pool.taints)


class GkeNodePool(pulumi.ComponentResource):
    """One GKE node pool (one TPU slice, or one autoscaled group of GPU/CPU nodes)."""

    node_pool: gcp.container.NodePool

    def __init__(self, name: str, args: GkeNodePoolArgs, opts: pulumi.ResourceOptions | None = None):
        pool, shape = args.pool, args.pool.shape
        problems = ArgProblems(name)
        pool_problems(problems, (), pool, args.region, args.zones)
        problems.raise_if_any()
        super().__init__("aiinfra:gcp:GkeNodePool", name, None, opts)

        fabric = shape.fabric in NIC_FABRICS
        tpu = shape.tpu
        reserved = pool.capacity_type in RESERVED
        node_config: dict = {
            "machine_type": shape.machine_type,
            "image_type": IMAGE_TYPE,
            "disk_size_gb": args.boot_disk_gib or (200 if shape.accelerator != "cpu" else 100),
            "service_account": args.service_account,
            "oauth_scopes": [CLOUD_PLATFORM_SCOPE],
            "labels": node_labels(pool),
            "resource_labels": dict(args.labels),
            "taints": [
                {"key": t.key, "value": t.value, "effect": GKE_TAINT_EFFECTS[t.effect]} for t in node_taints(pool)
            ],
            "shielded_instance_config": {"enable_secure_boot": True, "enable_integrity_monitoring": True},
            "workload_metadata_config": {"mode": "GKE_METADATA"},
            "metadata": {"disable-legacy-endpoints": "true"},
        }
        if tpu is None:
            node_config["gvnic"] = {"enabled": True}
        if shape.is_gpu:
            node_config["guest_accelerators"] = [
                {
                    "type": shape.gpu_type,
                    "count": shape.accelerators_per_node,
                    # TCPXO and RDMA plugins need the newest driver of the node version.
                    "gpu_driver_installation_config": {"gpu_driver_version": "LATEST" if fabric else "DEFAULT"},
                }
            ]
        if shape.local_nvme_disks > 0:
            node_config["ephemeral_storage_local_ssd_config"] = {"local_ssd_count": shape.local_nvme_disks}
        if pool.capacity_type == "spot":
            node_config["spot"] = True
        if reserved:
            node_config["reservation_affinity"] = {
                "consume_reservation_type": "SPECIFIC_RESERVATION",
                "key": RESERVATION_KEY,
                "values": [pool.reservation_id],
            }

        placement: gcp.container.NodePoolPlacementPolicyArgsDict | None = None
        if tpu is not None and tpu.hosts > 1:
            # A multi-host slice forms only from hosts placed for its topology.
            placement = {"type": "COMPACT", "tpu_topology": tpu.topology}
        elif fabric and not reserved:
            # Reserved capacity already sits where Google placed it; compact placement could only fail it.
            placement = {"type": "COMPACT"}

        network_config: gcp.container.NodePoolNetworkConfigArgsDict | None = None
        if args.additional_networks:
            network_config = {
                "additional_node_network_configs": [
                    {"network": nic.network, "subnetwork": nic.subnetwork} for nic in args.additional_networks
                ]
            }

        sizing: dict = {}
        if tpu is not None and pool.min_nodes == tpu.hosts:
            sizing["node_count"] = tpu.hosts
        elif len(args.zones) == 1:
            sizing["initial_node_count"] = pool.min_nodes
            sizing["autoscaling"] = {"min_node_count": pool.min_nodes, "max_node_count": pool.max_nodes}
        else:
            sizing["initial_node_count"] = math.ceil(pool.min_nodes / len(args.zones))
            sizing["autoscaling"] = {"total_min_node_count": pool.min_nodes, "total_max_node_count": pool.max_nodes}

        # Pools whose nodes cannot surge (one zone, compact, reserved, a whole slice) upgrade one node at a time.
        pinned = fabric or tpu is not None or reserved
        self.node_pool = gcp.container.NodePool(
            f"{name}-np",
            cluster=args.cluster,
            location=args.region,
            node_locations=list(args.zones),
            node_config=cast("gcp.container.NodePoolNodeConfigArgsDict", node_config),
            placement_policy=placement,
            network_config=network_config,
            management={"auto_repair": True, "auto_upgrade": True},
            upgrade_settings={"max_surge": 0, "max_unavailable": 1}
            if pinned
            else {"max_surge": 1, "max_unavailable": 0},
            **sizing,
            # The autoscaler owns the size once the pool exists; a changed initial count would replace the pool.
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["initialNodeCount"]),
        )
        self.register_outputs({"nodePoolId": self.node_pool.id, "machineType": shape.machine_type})
