"""Cost of a stack from catalog list prices: per cluster, pool, lake and team, per hour and per month.

`estimate()` is the plan JSON's `cost` object. Figures are list prices (on-demand machines, first storage
tier), so spot and reserved pools are upper bounds marked `estimate`; usage-billed items (data transfer,
NAT and endpoint data processing, disks, logs, keys, load balancers, image registries) are not priced.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from aiinfra.core.catalog import Price, aks_system_pool_nodes, azure_region_zones, resolve
from aiinfra.core.catalog.data import AKS_SYSTEM_POOL_NAME, AWS_INTERFACE_ENDPOINTS, DEFAULT_ZONE_COUNT
from aiinfra.core.catalog.prices import (
    AKS_STANDARD_TIER,
    AWS_INTERFACE_ENDPOINT,
    AWS_NAT_GATEWAY,
    AWS_PUBLIC_IPV4,
    AZURE_NAT_GATEWAY,
    AZURE_PUBLIC_IP,
    EKS_CONTROL_PLANE,
    GKE_CLUSTER_FEE,
    HOURS_PER_MONTH,
    LAKE_STORAGE,
)
from aiinfra.spec import ClusterSpec, DataLakeSpec, PlatformSpec, TeamSpec, declared_capacity, resolve_pool

GIB_PER_TIB = 1024
SPOT_NOTE = "spot pools are priced at the on-demand list price: an upper bound, marked estimate"
RESERVED_NOTE = (
    "reservation and capacity-block pools are priced at the on-demand list price, marked estimate: "
    "reserved and capacity-block rates differ"
)
ONPREM_NOTE = "on-prem pools are owned hardware: priced at 0"
UNPRICED_NOTE = (
    "not priced: data transfer, NAT and endpoint data processing, GCP Cloud NAT, disks, logs, keys, load balancers, "
    "image registries (storage; ACR Premium is a daily fee)"
)


def _money(value: float, places: int = 2) -> float:
    """Round half up, as a price page does (`round()` would take 0.045 to 0.04: it rounds the binary float)."""
    return float(Decimal(str(value)).quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP)) + 0.0  # no -0.0


def _unit_price(value: float) -> float:
    """Prices per unit keep the catalog's precision (0.8048 $/h, 0.023 $/GiB-month)."""
    return _money(value, 4)


def _range(low: float, high: float) -> dict[str, float]:
    return {"min": _money(low), "max": _money(high)}


def _per_month(low: float, high: float) -> dict[str, float]:
    return _range(low * HOURS_PER_MONTH, high * HOURS_PER_MONTH)


@dataclass(frozen=True)
class _Pool:
    """One priced pool: its JSON entry and its unrounded hourly cost at min and max."""

    entry: dict[str, Any]
    low: float
    high: float


def _pool(
    name: str,
    machine_type: str | None,
    accelerator: str,
    per_node: int,
    nodes: tuple[int, int],
    capacity: str,
    price: Price | None,
) -> _Pool:
    rate = price.usd_per_hour if price else 0.0
    low, high = nodes[0] * rate, nodes[1] * rate
    entry = {
        "name": name,
        "machine_type": machine_type,
        "accelerator": accelerator,
        "accelerators_per_node": per_node,
        "nodes": {"min": nodes[0], "max": nodes[1]},
        "capacity": capacity,
        "estimate": capacity in ("spot", "reservation", "capacity-block"),
        "usd_per_node_hour": price.usd_per_hour if price else None,
        "source": price.source if price else None,
        "as_of": price.as_of if price else None,
        "hourly": _range(low, high),
        "monthly": _per_month(low, high),
    }
    return _Pool(entry, low, high)


def _spec_pools(cluster: ClusterSpec) -> list[_Pool]:
    pools = []
    for spec in cluster.node_pools:
        resolved = resolve_pool(cluster, spec)
        shape = resolved.shape
        capacity = "owned" if cluster.cloud == "onprem" else spec.capacity.type
        nodes = (resolved.nodes.min, resolved.nodes.max)
        pools.append(
            _pool(
                spec.name,
                shape.machine_type,
                shape.accelerator,
                shape.accelerators_per_node,
                nodes,
                capacity,
                shape.price,
            )
        )
    return pools


def _aks_system_pool(cluster: ClusterSpec) -> _Pool:
    shape = resolve("azure", "cpu")
    nodes = aks_system_pool_nodes(len(cluster.zones or azure_region_zones(cluster.region or "") or ()))
    return _pool(AKS_SYSTEM_POOL_NAME, shape.machine_type, shape.accelerator, 0, nodes, "on-demand", shape.price)


def _fixed(cluster: ClusterSpec) -> list[tuple[str, Price, int]]:
    """(item, unit price, count) the cluster's components create whatever its pools do."""
    new_network = not cluster.network.vpc_id
    if cluster.cloud == "aws":
        items = [("EKS control plane", EKS_CONTROL_PLANE, 1)]
        if new_network:
            zones = len(cluster.zones) or DEFAULT_ZONE_COUNT
            endpoints = len(AWS_INTERFACE_ENDPOINTS)
            items += [
                ("NAT gateway", AWS_NAT_GATEWAY, 1),
                ("NAT gateway public IPv4 address", AWS_PUBLIC_IPV4, 1),
                (
                    f"interface endpoints ({endpoints} services x {zones} zones)",
                    AWS_INTERFACE_ENDPOINT,
                    endpoints * zones,
                ),
            ]
        return items
    if cluster.cloud == "gcp":
        return [("GKE cluster management fee", GKE_CLUSTER_FEE, 1)]
    if cluster.cloud == "azure":
        items = [("AKS Standard tier", AKS_STANDARD_TIER, 1)]
        if new_network:
            items += [("NAT gateway", AZURE_NAT_GATEWAY, 1), ("NAT gateway public IP address", AZURE_PUBLIC_IP, 1)]
        return items
    return []


def _cluster(cluster: ClusterSpec) -> tuple[dict[str, Any], list[_Pool], float, float]:
    """The cluster's JSON entry, its pools, and its unrounded hourly cost at min and max."""
    fixed = [(item, price.usd_per_hour * count, price) for item, price, count in _fixed(cluster)]
    pools = _spec_pools(cluster)
    if cluster.cloud == "azure":
        pools.append(_aks_system_pool(cluster))
    base = sum(hourly for _, hourly, _ in fixed)
    low = base + sum(p.low for p in pools)
    high = base + sum(p.high for p in pools)
    entry = {
        "name": cluster.name,
        "cloud": cluster.cloud,
        "region": cluster.region,
        "hourly": _range(low, high),
        "monthly": _per_month(low, high),
        "fixed": [
            {"item": item, "usd_per_hour": _unit_price(hourly), "source": price.source, "as_of": price.as_of}
            for item, hourly, price in fixed
        ],
        "pools": [p.entry for p in pools],
    }
    return entry, pools, low, high


def _lake(lake: DataLakeSpec, index: int, notes: list[str]) -> tuple[dict[str, Any], float]:
    price = LAKE_STORAGE.get(lake.cloud)
    if lake.stored_tib is None:
        notes.append(f"lake {lake.name}: storage counted as 0; set data_lakes[{index}].stored_tib to estimate it")
    monthly = (lake.stored_tib or 0.0) * GIB_PER_TIB * (price.usd_per_gib_month if price else 0.0)
    entry = {
        "name": lake.name,
        "cloud": lake.cloud,
        "region": lake.region,
        "stored_tib": lake.stored_tib,
        "usd_per_gib_month": price.usd_per_gib_month if price else None,
        "monthly": _money(monthly),
        "source": price.source if price else None,
        "as_of": price.as_of if price else None,
    }
    return entry, monthly


def _accelerator_prices(pools: list[tuple[str, _Pool]]) -> dict[str, dict[str, tuple[float | None, bool]]]:
    """Price per accelerator-hour by model and cluster (the dearest pool of that model there, so full use is an
    upper bound; None where it is unpriced, as on-prem), and whether that price is an estimate (spot, reserved)."""
    prices: dict[str, dict[str, tuple[float | None, bool]]] = {}
    for cluster, pool in pools:
        entry = pool.entry
        if not entry["accelerators_per_node"]:
            continue
        rate = entry["usd_per_node_hour"]
        offer = (None if rate is None else rate / entry["accelerators_per_node"], entry["estimate"])
        per_cluster = prices.setdefault(entry["accelerator"], {})
        known = per_cluster.get(cluster)
        if known is None or (offer[0] or 0.0) > (known[0] or 0.0):
            per_cluster[cluster] = offer
    return prices


def _team(
    team: TeamSpec,
    stack: str,
    capacity: dict[str, dict[str, int]],
    prices: dict[str, dict[str, tuple[float | None, bool]]],
    notes: list[str],
) -> dict[str, Any]:
    """A team's spend with its quota in use on every cluster that has the model: a quota is a cap per cluster
    (components/kubernetes/tenancy.py), so this is what the team can reach, not what the stack adds."""
    quotas, high, estimated = [], 0.0, False
    for model, count in team.quotas.get(stack, {}).items():
        clusters = []
        for cluster, cluster_capacity in capacity.get(model, {}).items():
            price, from_estimate = prices.get(model, {}).get(cluster, (None, False))
            used = min(count, cluster_capacity)
            high += used * (price or 0.0)
            estimated = estimated or (from_estimate and used > 0)
            clusters.append(
                {
                    "cluster": cluster,
                    "count": used,
                    "usd_per_accelerator_hour": None if price is None else _unit_price(price),
                }
            )
        if not clusters:
            notes.append(f"team {team.team}: no cluster in this stack has {model}; its quota is counted as 0")
        quotas.append({"accelerator": model, "count": count, "clusters": clusters})
    return {
        "team": team.team,
        "quotas": quotas,
        "estimate": estimated,
        "hourly": _range(0.0, high),
        "monthly": _per_month(0.0, high),
    }


def _capacity_notes(capacities: set[str]) -> list[str]:
    notes = [SPOT_NOTE] if "spot" in capacities else []
    if capacities & {"reservation", "capacity-block"}:
        notes.append(RESERVED_NOTE)
    if "owned" in capacities:
        notes.append(ONPREM_NOTE)
    return notes


def estimate(platform: PlatformSpec, stack: str) -> dict[str, Any]:
    """The stack's cost at every pool's min and max node count, as the plan JSON's `cost` object."""
    clusters, all_pools, low, high = [], [], 0.0, 0.0
    for cluster in platform.clusters:
        entry, pools, cluster_low, cluster_high = _cluster(cluster)
        clusters.append(entry)
        all_pools += [(cluster.name, p) for p in pools]
        low, high = low + cluster_low, high + cluster_high
    notes = _capacity_notes({p.entry["capacity"] for _, p in all_pools})
    lakes = []
    for i, lake in enumerate(platform.data_lakes):
        entry, monthly = _lake(lake, i, notes)
        lakes.append(entry)
        low, high = low + monthly / HOURS_PER_MONTH, high + monthly / HOURS_PER_MONTH
    capacity, prices = declared_capacity(platform), _accelerator_prices(all_pools)
    # A team that asks nothing of this stack has nothing here to spend.
    teams = [
        _team(t, stack, capacity, prices, notes)
        for t in sorted(platform.teams, key=lambda t: t.team)
        if stack in t.quotas
    ]
    if clusters:
        notes.append(UNPRICED_NOTE)
    return {
        "currency": "USD",
        "hours_per_month": HOURS_PER_MONTH,
        "estimate": any(p.entry["estimate"] for _, p in all_pools),
        "total": {"hourly": _range(low, high), "monthly": _per_month(low, high)},
        "clusters": clusters,
        "lakes": lakes,
        "teams": teams,
        "notes": notes,
    }


def describe_quota(quota: dict[str, Any]) -> str:
    """`H100×48 (16 on each of 3 clusters)`: what a per-cluster quota adds up to in the stack."""
    counts = [c["count"] for c in quota["clusters"]]
    reach = f"{quota['accelerator']}×{sum(counts)}"
    if not counts:
        return f"{reach} (no cluster has it)"
    if set(counts) == {quota["count"]}:
        return f"{reach} ({quota['count']} on each of {len(counts)} clusters)" if len(counts) > 1 else reach
    return f"{reach} (" + ", ".join(f"{c['count']} on {c['cluster']}" for c in quota["clusters"]) + ")"
