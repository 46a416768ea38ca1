"""Stack-wide rules: required tags, GPU count and cost ceilings per environment, `protect` on the
stateful resources of production (lakes and keys)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pulumi_policy import EnforcementLevel, PolicyConfigSchema, ResourceValidationArgs, Severity

from aiinfra.core.catalog.data import MACHINES, TPU_GENERATIONS
from aiinfra.core.tags import has_tag_property, resource_tags

from .common import (
    AIINFRA,
    UNKNOWN,
    Control,
    StackResource,
    get,
    is_true,
    items,
    number,
    resource_rule,
    stack_rule,
    strings,
)

DOMAIN = "stack"
TAGGABLE = frozenset(
    {
        "aws:s3/bucket:Bucket",
        "aws:s3/bucketV2:BucketV2",
        "aws:kms/key:Key",
        "aws:eks/cluster:Cluster",
        "aws:eks/nodeGroup:NodeGroup",
        "aws:ec2/vpc:Vpc",
        "aws:ec2/subnet:Subnet",
        "aws:ec2/securityGroup:SecurityGroup",
        "aws:ec2/launchTemplate:LaunchTemplate",
        "aws:ec2/instance:Instance",
        "aws:ebs/volume:Volume",
        "aws:iam/role:Role",
        "gcp:storage/bucket:Bucket",
        "gcp:container/cluster:Cluster",
        "gcp:kms/cryptoKey:CryptoKey",
        "azure-native:storage:StorageAccount",
        "azure-native:containerservice:ManagedCluster",
        "azure-native:containerservice:AgentPool",
        "azure-native:keyvault:Vault",
    }
)
"""Types that take tags or labels even when a program sets none (others count when they carry a tag map)."""


@stack_rule(
    name="required-tags",
    description="Every taggable resource carries the stack's required tags (AWS/Azure tags, GCP labels), "
    "including its provider's default tags.",
    severity=Severity.LOW,
    remediation="Add the missing keys to the stack's `tags` (aiinfra:platform.tags) or to the resource's tags.",
    control=Control(*AIINFRA, "GOV-1", "Resources carry owner and cost allocation tags"),
    domain=DOMAIN,
    config_schema=PolicyConfigSchema(
        properties={"requiredKeys": {"type": "array", "items": {"type": "string", "minLength": 1}, "default": []}}
    ),
)
def required_tags(resources: list[StackResource], config: Mapping[str, Any]) -> Iterator[tuple[str | None, str]]:
    required = config.get("requiredKeys") or []
    if not required:
        return
    for resource in resources:
        if resource.type not in TAGGABLE and not has_tag_property(resource.props):
            continue
        tags = resource_tags(resource.props, resource.provider_props)
        missing = [key for key in required if tags is not None and key not in tags]
        if missing:
            yield resource.urn, f"{resource.name} is missing tag(s) {', '.join(missing)}"


@dataclass(frozen=True)
class MachineCost:
    gpus: int
    usd_per_hour: float


CATALOG: dict[str, MachineCost] = {
    **{m.machine_type: MachineCost(0 if m.accelerator == "cpu" else m.count, m.price.usd_per_hour) for m in MACHINES},
    **{
        machine: MachineCost(0, generation.price_per_chip.usd_per_hour * chips)
        for generation in TPU_GENERATIONS
        for chips, machine in generation.machine_types.items()
    },
}


@dataclass(frozen=True)
class Pool:
    """A node group or pool at its maximum size."""

    urn: str
    name: str
    machine_type: Any
    max_nodes: Any


def _gke_max_nodes(pool: Any) -> Any:
    total = get(pool, "autoscaling", "totalMaxNodeCount")
    per_zone = get(pool, "autoscaling", "maxNodeCount")
    zones = max(1, len(items(get(pool, "nodeLocations"))))
    if total is not None:
        return total
    if per_zone is not None:
        return UNKNOWN if per_zone is UNKNOWN else (number(per_zone) or 0) * zones
    fixed = get(pool, "nodeCount")
    return fixed if fixed is not None else get(pool, "initialNodeCount")


def _aks_max_nodes(pool: Any) -> Any:
    return get(pool, "maxCount") if is_true(get(pool, "enableAutoScaling")) else get(pool, "count")


def _pools(resource: StackResource) -> Iterator[Pool]:
    props = resource.props
    if resource.type == "aws:eks/nodeGroup:NodeGroup":
        types = get(props, "instanceTypes")
        for machine in [UNKNOWN] if types is UNKNOWN else strings(types)[:1]:
            yield Pool(resource.urn, resource.name, machine, get(props, "scalingConfig", "maxSize"))
    elif resource.type == "gcp:container/nodePool:NodePool":
        yield Pool(resource.urn, resource.name, get(props, "nodeConfig", "machineType"), _gke_max_nodes(props))
    elif resource.type == "gcp:container/cluster:Cluster":
        for pool in items(get(props, "nodePools")):
            name = f"{resource.name}/{get(pool, 'name')}"
            yield Pool(resource.urn, name, get(pool, "nodeConfig", "machineType"), _gke_max_nodes(pool))
    elif resource.type == "azure-native:containerservice:AgentPool":
        yield Pool(resource.urn, resource.name, get(props, "vmSize"), _aks_max_nodes(props))
    elif resource.type == "azure-native:containerservice:ManagedCluster":
        for pool in items(get(props, "agentPoolProfiles")):
            name = f"{resource.name}/{get(pool, 'name')}"
            yield Pool(resource.urn, name, get(pool, "vmSize"), _aks_max_nodes(pool))


def _ceiling_totals(
    resources: list[StackResource], measure: str
) -> tuple[float, list[str], list[tuple[str | None, str]]]:
    """Sum `measure` ("gpus" or "usd_per_hour") of every pool at max size: (total, parts, uncountable pools)."""
    total, parts, uncountable = 0.0, [], []
    for resource in resources:
        for pool in _pools(resource):
            if pool.machine_type is UNKNOWN or pool.max_nodes is UNKNOWN:
                continue
            nodes = number(pool.max_nodes)
            cost = CATALOG.get(str(pool.machine_type))
            if cost is None or nodes is None:
                uncountable.append(
                    (
                        pool.urn,
                        f"{pool.name}: machine type {pool.machine_type} or its size is not in the aiinfra "
                        "catalog, so it cannot be counted against the ceiling",
                    )
                )
                continue
            amount = getattr(cost, measure) * nodes
            total += amount
            if amount:
                parts.append(f"{pool.name} {nodes:g} x {pool.machine_type}")
    return total, parts, uncountable


@stack_rule(
    name="gpu-count-ceiling",
    description="The stack's node pools, at their maximum sizes, hold no more GPUs than the environment allows "
    "(64 unless its config says otherwise).",
    severity=Severity.HIGH,
    remediation="Lower the pools' max sizes, or raise maxGpus in policies/config/<stack>.json after budget review.",
    control=Control(*AIINFRA, "COST-1", "GPU capacity per environment stays within its approved ceiling"),
    domain=DOMAIN,
    config_schema=PolicyConfigSchema(properties={"maxGpus": {"type": "integer", "minimum": 0, "default": 64}}),
)
def gpu_count_ceiling(resources: list[StackResource], config: Mapping[str, Any]) -> Iterator[tuple[str | None, str]]:
    ceiling = config.get("maxGpus")
    if ceiling is None:
        return
    total, parts, uncountable = _ceiling_totals(resources, "gpus")
    yield from uncountable
    if total > ceiling:
        yield None, f"{total:g} GPUs at maximum scale ({'; '.join(parts)}) exceed the ceiling of {ceiling}"


@stack_rule(
    name="gpu-cost-ceiling",
    description="The stack's node pools, at their maximum sizes, cost no more per hour (on-demand list price) "
    "than the environment allows ($500/h unless its config says otherwise).",
    severity=Severity.HIGH,
    remediation="Lower the pools' max sizes or machine types, or raise maxUsdPerHour in "
    "policies/config/<stack>.json after budget review.",
    control=Control(*AIINFRA, "COST-2", "Hourly compute spend per environment stays within its approved ceiling"),
    domain=DOMAIN,
    config_schema=PolicyConfigSchema(properties={"maxUsdPerHour": {"type": "number", "minimum": 0, "default": 500}}),
)
def gpu_cost_ceiling(resources: list[StackResource], config: Mapping[str, Any]) -> Iterator[tuple[str | None, str]]:
    ceiling = config.get("maxUsdPerHour")
    if ceiling is None:
        return
    total, parts, uncountable = _ceiling_totals(resources, "usd_per_hour")
    yield from uncountable
    if total > ceiling:
        yield None, f"${total:,.2f}/h at maximum scale ({'; '.join(parts)}) exceeds the ceiling of ${ceiling:,.2f}/h"


STATEFUL = (
    "aws:s3/bucket:Bucket",
    "aws:s3/bucketV2:BucketV2",
    "aws:kms/key:Key",
    "gcp:storage/bucket:Bucket",
    "gcp:kms/keyRing:KeyRing",
    "gcp:kms/cryptoKey:CryptoKey",
    "azure-native:storage:StorageAccount",
    "azure-native:keyvault:Vault",
)


@resource_rule(
    name="protect-stateful-resources",
    description="Data lakes and encryption keys are protected from deletion (the `protect` resource option). "
    "Advisory unless a stack's config (production) makes it mandatory.",
    types=STATEFUL,
    severity=Severity.HIGH,
    remediation="Pass opts=ResourceOptions(protect=True) for production stacks (components take a `protect` "
    "argument); rename with `aliases`, never by replacement.",
    control=Control(*AIINFRA, "DATA-2", "Production lakes and keys cannot be deleted by a deployment"),
    domain=DOMAIN,
    enforcement=EnforcementLevel.ADVISORY,
)
def protect_stateful_resources(_props: dict[str, Any], args: ResourceValidationArgs) -> Iterator[str]:
    if not args.opts.protect:
        yield f"{args.name} can be deleted by `pulumi up` or `pulumi destroy` (protect is not set)"


POLICIES = [required_tags, gpu_count_ceiling, gpu_cost_ceiling, protect_stateful_resources]
