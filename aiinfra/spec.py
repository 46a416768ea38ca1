"""The typed platform spec: stack config `aiinfra:platform` plus `stacks/teams/*.yaml`.

`build_platform()` validates everything and raises InputError with every problem at once,
each with its path and fix. Structure is checked by pydantic; facts (machine types, fabrics,
topologies) by the catalog; references between sections by `_check_references`.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
from collections.abc import Iterable
from pathlib import PurePosixPath
from typing import Annotated, Any, Literal, cast

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from aiinfra.core import catalog
from aiinfra.core.catalog import CatalogError, Fabric, NodeShape
from aiinfra.core.catalog.data import SUPPORTED_KUBERNETES
from aiinfra.core.errors import InputError, Problem, join_path
from aiinfra.core.lake import PREFIX_RE, ZONES, grant_slug, prefix_zone
from aiinfra.core.vocab import AmiFamily, CapacityType, Cloud, LakeZone, LocalNvme, TaintEffect
from workloads.shared.recipes import RECIPES

MAX_NODES = 1000
"""Most nodes of one pool (GKE's and AKS's pool limit), and so of one training job."""
MAX_QUOTA = 100_000
"""Most GPUs or TPU chips of one quota: far beyond any cluster, short of numbers that only a typo makes."""


def _unreserved_tag_key(key: str) -> str:
    if key.lower().startswith("aws:"):
        raise ValueError("the aws: prefix is reserved for AWS's own tags; drop it")
    return key


TAG_KEY_RULE = "a tag key is 1 to 128 letters, digits, spaces and _ . : = + - @ (what AWS and Azure both take)"
TAG_VALUE_RULE = "a tag value is at most 256 letters, digits, spaces and _ . : / = + - @"
TagKey = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9 _.:=+@-]{1,128}$"),
    AfterValidator(_unreserved_tag_key),
    Field(description=TAG_KEY_RULE),
]
TagValue = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9 _.:/=+@-]{0,256}$"), Field(description=TAG_VALUE_RULE)
]
Tags = dict[TagKey, TagValue]

DNS_LABEL = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
DnsName = Annotated[
    str,
    StringConstraints(pattern=DNS_LABEL, max_length=40),
    Field(description="Lower-case DNS label: letters, digits and '-', starting with a letter, at most 40."),
]
ImageRef = Annotated[
    str,
    StringConstraints(
        pattern=r"^[a-z0-9][a-z0-9._:/-]*[a-z0-9](:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[0-9a-f]{64})?$"
    ),
    Field(description="An image reference: repository[:tag][@sha256:<64 hex>]."),
]
DIGEST_RE = r"@sha256:[0-9a-f]{64}$"


def _narrow_cidrs(value: list[str], too_wide: str) -> list[str]:
    for cidr in value:
        if ipaddress.ip_network(cidr, strict=False).prefixlen == 0:
            raise ValueError(f"{cidr} {too_wide}")
    return value


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class NodeRange(_Model):
    min: int = Field(0, ge=0, description="Fewest nodes; 0 lets the pool scale to zero when idle.")
    max: int = Field(
        ge=1,
        le=MAX_NODES,
        description=f"Most nodes the autoscaler may create (at most {MAX_NODES}, the pool limit of GKE and AKS).",
    )

    @model_validator(mode="after")
    def _ordered(self) -> NodeRange:
        if self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}; set min <= max")
        return self


class Capacity(_Model):
    type: CapacityType = Field(
        default="on-demand", description="How nodes are bought. reservation and capacity-block need `id`."
    )
    id: str | None = Field(
        default=None,
        description="Reservation id (AWS cr-…, GCP reservation name, Azure capacity "
        "reservation group id). Required for reservation and capacity-block.",
    )

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: Any) -> Any:
        return {"type": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _id_when_reserved(self) -> Capacity:
        if self.type in ("reservation", "capacity-block") and not self.id:
            raise ValueError(f"capacity {self.type} needs the reservation id: write {{type: {self.type}, id: ...}}")
        if self.type in ("on-demand", "spot") and self.id:
            raise ValueError(f"capacity {self.type} takes no id; use type: reservation to target {self.id}")
        return self


class Taint(_Model):
    key: str
    value: str = ""
    effect: TaintEffect = "NoSchedule"


class NodeSize(_Model):
    cpus: int = Field(ge=1, description="vCPUs (hyperthreads) of one node, as its kubelet reports them.")
    memory_gib: int = Field(ge=1, description="Memory of one node in GiB.")


class NodePoolSpec(_Model):
    name: DnsName
    accelerator: str = Field(
        description="MODEL:COUNT per node (H100:8, L4:1), TPU-GEN:TOPOLOGY (TPU-v5p:2x2x2) or cpu."
    )
    machine_type: str | None = Field(
        None,
        description="Pick one of several machine types with the same "
        "accelerators. Defaults to the catalog's first match.",
    )
    nodes: NodeRange | None = Field(
        None,
        description="Node count range. Required except for TPU slices, whose host count follows from the topology.",
    )
    capacity: Capacity = Field(default_factory=Capacity)
    fabric: Fabric = Field(
        Fabric.AUTO,
        description="auto uses the machine's fabric (EFA, TCPXO, RDMA, "
        "InfiniBand); a fabric the machine lacks is an error.",
    )
    local_nvme: LocalNvme = Field(
        "auto", description="auto stripes the machine's local NVMe disks as RAID0 scratch when it has any."
    )
    zone: str | None = Field(
        None,
        description="Pin the pool to one zone (required by fabrics that need one "
        "placement: EFA, TCPXO, TPU). Defaults to the cluster's first zone.",
    )
    labels: dict[str, str] = Field(default_factory=dict)
    taints: list[Taint] = Field(default_factory=list)
    node_selector: dict[str, str] = Field(
        default_factory=dict, description="On-prem only: labels that select the existing nodes of this pool."
    )
    node: NodeSize | None = Field(
        None,
        description="On-prem only: the size of each existing node, so queues and pods are sized (the catalog "
        "sizes cloud machines and TPU hosts). Without it, training on the pool needs cpu and memory_gib per pod.",
    )
    ami_family: AmiFamily = Field(
        "al2023", description="AWS only: the node OS. al2023 (EKS AL2023 NVIDIA AMI) or bottlerocket."
    )


class NetworkSpec(_Model):
    cidr: str = Field(default="10.0.0.0/16", description="CIDR of the network created when no existing one is given.")
    vpc_id: str | None = Field(default=None, description="Use this existing VPC/VNet instead of creating one.")
    subnet_ids: list[str] = Field(default_factory=list, description="Existing private subnets, with vpc_id.")
    private_dns_zones: dict[str, str] = Field(
        default_factory=dict,
        description="Azure, with vpc_id: privatelink DNS zones already linked to that VNet (a hub's), zone name → "
        "resource id, e.g. privatelink.blob.core.windows.net: /subscriptions/…/privateDnsZones/"
        "privatelink.blob.core.windows.net. The lakes' and registry's private endpoints register there; zones "
        "not listed are made and linked here (Azure links a VNet to one zone of a name).",
    )

    @field_validator("private_dns_zones")
    @classmethod
    def _zone_ids(cls, value: dict[str, str]) -> dict[str, str]:
        for zone, zone_id in value.items():
            if not zone.startswith("privatelink."):
                raise ValueError(f"{zone!r} — keys are privatelink zone names, e.g. privatelink.blob.core.windows.net")
            if not zone_id.lower().endswith(f"/providers/microsoft.network/privatednszones/{zone}"):
                raise ValueError(
                    f"{zone}: {zone_id!r} — give the zone's resource id, /subscriptions/<id>/resourceGroups/<group>"
                    f"/providers/Microsoft.Network/privateDnsZones/{zone}"
                )
        return value

    @field_validator("cidr")
    @classmethod
    def _cidr(cls, value: str) -> str:
        net = ipaddress.ip_network(value, strict=True)
        if net.prefixlen > 20:
            raise ValueError(f"{value} is too small for GPU pods; use a /20 or larger")
        return value

    @model_validator(mode="after")
    def _existing_pair(self) -> NetworkSpec:
        if bool(self.vpc_id) != bool(self.subnet_ids):
            raise ValueError("give vpc_id and subnet_ids together to use an existing network")
        if self.private_dns_zones and not self.vpc_id:
            raise ValueError("private_dns_zones needs vpc_id: a network made here has no zones linked to it yet")
        return self


class ApiAccess(_Model):
    public_cidrs: list[str] = Field(
        default_factory=list,
        description="CIDRs allowed to reach a public API endpoint. Empty (the default) keeps the endpoint private.",
    )

    @field_validator("public_cidrs")
    @classmethod
    def _no_world(cls, value: list[str]) -> list[str]:
        for cidr in value:
            if ipaddress.ip_network(cidr, strict=False).prefixlen == 0:
                raise ValueError(f"{cidr} opens the API to the internet; list your own CIDRs instead")
        return value


class ClusterSpec(_Model):
    name: DnsName
    cloud: Cloud
    region: str | None = Field(None, description="Cloud region (us-east-1, us-central1, eastus). Not on-prem.")
    zones: list[str] = Field(
        default_factory=list,
        description="Zones for nodes. Defaults to the region's first three (AWS, GCP) or zones 1-3 (Azure).",
    )
    kubernetes_version: str = Field(SUPPORTED_KUBERNETES[-1], pattern=r"^1\.\d+$")
    node_pools: list[NodePoolSpec] = Field(
        default_factory=list, max_length=100, description="At most 100 (AKS's limit per cluster)."
    )
    network: NetworkSpec = Field(default_factory=NetworkSpec)
    api: ApiAccess = Field(default_factory=ApiAccess)
    kubeconfig: str | None = Field(
        None,
        description="On-prem only: the stack config key holding the cluster's "
        "kubeconfig as a secret (`pulumi config set --secret`).",
    )
    tags: Tags = Field(default_factory=dict)
    protect: bool | None = Field(
        None,
        description="Refuse deletion of the cluster's keys and vaults (and GKE deletion protection). Defaults to "
        "true in stacks named prod*.",
    )


class DataLakeSpec(_Model):
    name: DnsName
    cloud: Cloud
    region: str | None = None
    bucket: str | None = Field(
        None,
        pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
        description="Physical bucket (S3, GCS, on-prem) or storage account (ADLS) name. Defaults to "
        "`<name>-<stack>` for buckets (names are global: set your own if taken) and a hash for ADLS.",
    )
    zones: list[LakeZone] = Field(default_factory=lambda: list(ZONES))
    endpoint: str | None = Field(None, description="On-prem only: the S3-compatible endpoint URL (MinIO, Ceph).")
    object_lock: bool = Field(False, description="Write-once retention for model registries.")
    egress_cidrs: list[str] = Field(
        default_factory=list,
        description="Where pods reach the lake (VPC endpoint subnets, the MinIO/Ceph address, Private Google "
        "Access ranges): team namespaces deny all other egress. Defaults to none: no pod can reach the lake "
        "until it is given (the plan warns).",
    )

    @field_validator("egress_cidrs")
    @classmethod
    def _egress(cls, value: list[str]) -> list[str]:
        return _narrow_cidrs(value, "would let team pods reach anything; list the lake's endpoint ranges")

    protect: bool | None = Field(None, description="Refuse deletion. Defaults to true in stacks named prod*.")
    stored_tib: float | None = Field(None, ge=0, description="expected stored data, for the cost estimate")


class TrainingSpec(_Model):
    kind: Literal["training"]
    name: DnsName
    team: DnsName
    cluster: DnsName
    pool: DnsName
    lake: DnsName = Field(
        description="Data lake (same cloud as the cluster) for data, checkpoints/<name>/ and models/<name>/."
    )
    recipe: str = Field("tiny", description=f"Model recipe: {', '.join(RECIPES)}.")
    steps: int = Field(1000, ge=1, le=10**9)
    nodes: int = Field(1, ge=1, le=MAX_NODES, description="Pods, one per node; at most the pool's nodes.max.")
    checkpoint_every: int = Field(100, ge=0)
    image: ImageRef | None = Field(
        None,
        description="A prebuilt trainer image, pinned by digest in production stacks. Defaults to the image built "
        "from workloads/training (Dockerfile.xla on TPU pools) and pushed to the cloud's registry.",
    )
    cpu: float | None = Field(
        None, gt=0, description="CPU request and limit per pod. Defaults to 90 % of the pool's node (room for daemons)."
    )
    memory_gib: int | None = Field(
        None, ge=1, description="Memory request and limit per pod in GiB. Defaults to 85 % of the pool's node."
    )

    @field_validator("recipe")
    @classmethod
    def _known_recipe(cls, value: str) -> str:
        if value not in RECIPES:
            raise ValueError(f"unknown recipe; use one of {', '.join(RECIPES)}")
        return value


class ServingSpec(_Model):
    kind: Literal["serving"]
    name: DnsName
    team: DnsName
    cluster: DnsName
    pool: DnsName
    lake: DnsName = Field(description="Data lake (same cloud as the cluster) holding the exported model.")
    model: str = Field(
        pattern=r"^models/([a-z0-9][-a-z0-9_.]*/)+$",
        description="Path of the exported model in the lake, as training writes it: models/<training job>/",
    )
    replicas: NodeRange = Field(default_factory=lambda: NodeRange(min=1, max=2))
    image: ImageRef | None = Field(
        None,
        description="A prebuilt server image, pinned by digest in production stacks. Defaults to the image built "
        "from workloads/serving and pushed to the cloud's registry.",
    )
    client_teams: list[DnsName] = Field(
        default_factory=list,
        description="Other teams whose pods call the server: both namespaces get the NetworkPolicies for it.",
    )
    client_namespaces: list[DnsName] = Field(
        default_factory=list,
        description="Namespaces outside aiinfra's teams allowed in, e.g. an ingress controller or Prometheus.",
    )


Workload = Annotated[TrainingSpec | ServingSpec, Field(discriminator="kind")]


class RegistrySpec(_Model):
    """Where the workload images built from this repository go on one cloud. Every cloud whose workloads run
    those images (no `image:` of their own) gets a registry; an entry here only changes its settings."""

    cloud: Cloud
    region: str | None = Field(
        None,
        description="Cloud region of the registry. Defaults to the region of the first cluster on its cloud that "
        "runs the built images. Not on-prem. On Azure, clusters in other regions pull from a replica in theirs.",
    )
    url: str | None = Field(
        None,
        pattern=r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?(/[a-z0-9]+([._/-][a-z0-9]+)*)?$",
        description="On-prem only, and required there: the existing registry the images are pushed to, "
        "host[:port][/path] without a scheme (registry.example.com/ml).",
    )
    pull_secret: str | None = Field(
        None,
        description="On-prem only: the stack config key holding, as a secret, the Docker config JSON the pods pull "
        'with ({"auths": {"<host>": {"auth": "<base64 user:password>"}}}, e.g. for a Harbor robot account; '
        "`pulumi config set --secret <key> < config.json`). Each team namespace on the on-prem clusters that run "
        "the built images keeps it as the Secret registry-pull of its workload service account. Without it, the "
        "nodes must be able to pull on their own.",
    )
    push_cidrs: list[str] = Field(
        default_factory=list,
        description="Azure only: public addresses that push (the machine running `pulumi up`). Without them the "
        "registry has no public network access and pushes must come from inside a pulling cluster's VNet.",
    )

    @field_validator("push_cidrs")
    @classmethod
    def _push(cls, value: list[str]) -> list[str]:
        return _narrow_cidrs(value, "would open the registry to the internet; give the deploying machine's range")

    protect: bool | None = Field(None, description="Refuse deletion. Defaults to true in stacks named prod*.")


class TeamSpec(_Model):
    team: DnsName
    owners: list[Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]] = Field(min_length=1)
    quotas: dict[str, dict[str, Annotated[StrictInt, Field(ge=0, le=MAX_QUOTA)]]] = Field(
        default_factory=dict, description="Per environment: accelerator model → GPUs/chips, e.g. {prod: {H100: 16}}."
    )
    lake_prefixes: list[str] = Field(default_factory=list)

    @field_validator("lake_prefixes")
    @classmethod
    def _prefixes(cls, value: list[str]) -> list[str]:
        named: dict[str, str] = {}
        for prefix in value:
            if not PREFIX_RE.match(prefix):
                raise ValueError(f"{prefix!r} is not a lake prefix; write lower-case segments ending in '/'")
            other = named.setdefault(grant_slug(prefix), prefix)
            if other != prefix:
                raise ValueError(
                    f"{prefix!r} and {other!r} would name their lake grants alike ({grant_slug(prefix)}); "
                    "keep one, or rename one so they differ in more than punctuation"
                )
        return value


class PlatformSpec(_Model):
    """Everything one stack declares. `teams` come from stacks/teams/*.yaml, not from stack config."""

    tags: Tags = Field(default_factory=dict, description="Merged into every resource's tags/labels.")
    # Bounds far above any real platform: they keep a runaway generated stack from planning for hours.
    clusters: list[ClusterSpec] = Field(default_factory=list, max_length=50)
    data_lakes: list[DataLakeSpec] = Field(default_factory=list, max_length=50)
    workloads: list[Workload] = Field(default_factory=list, max_length=1000)
    registries: list[RegistrySpec] = Field(default_factory=list, max_length=4)
    teams: list[TeamSpec] = Field(default_factory=list)


class ResolvedPool(_Model):
    """A node pool spec with its catalog shape and its effective node range."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)
    spec: NodePoolSpec
    shape: NodeShape
    nodes: NodeRange
    zone: str | None


# ------------------------------------------------------------------ error conversion


def _suggest(field: str, model: type[BaseModel] | None) -> str:
    if model is None:
        return ""
    close = difflib.get_close_matches(field, list(model.model_fields), n=1)
    return f"; did you mean {close[0]!r}?" if close else f"; known fields: {', '.join(model.model_fields)}"


def _pydantic_problems(
    err: ValidationError, prefix: tuple[str | int, ...] = (), root: type[BaseModel] = PlatformSpec
) -> list[Problem]:
    """One Problem per pydantic error, in the spec's words. `root` is the model validated (for field hints)."""
    problems = []
    for e in err.errors(include_url=False):
        loc = [p for p in (*prefix, *e["loc"]) if p not in ("training", "serving")]
        path = join_path(*loc)
        kind = e["type"]
        if kind == "missing":
            msg = "required; add it"
        elif kind == "extra_forbidden":
            owner = _model_at(loc[:-1], root)
            msg = f"unknown field{_suggest(str(loc[-1]), owner)}"
        elif loc[-1:] == ["[key]"] and loc[-3:-2] == ["tags"]:
            path = join_path(*loc[:-2])
            reason = e["msg"].removeprefix("Value error, ") if kind == "value_error" else TAG_KEY_RULE
            msg = f"{loc[-2]!r} — {reason}"
        elif loc[-1:] == ["[key]"]:
            # A mapping key of the wrong type (`quotas: {1: ...}`): name the mapping, not pydantic's `[key]`.
            path = join_path(*loc[:-2])
            msg = f"{loc[-2]!r} — keys here are names (a stack, an accelerator model); write it as text"
        elif kind == "int_type" and loc[:1] == ["quotas"]:
            msg = f"{e['input']!r} — a quota is a whole number of GPUs or TPU chips, e.g. 8"
        else:
            msg = e["msg"].removeprefix("Value error, ")
            if kind == "string_pattern_mismatch" and loc and loc[-1] in ("name", "team", "cluster", "pool"):
                msg = "must be a lower-case DNS label (a-z, 0-9, '-', starting with a letter, at most 40)"
            elif kind == "string_pattern_mismatch" and loc[-1:] == ["image"]:
                msg = "not an image reference; write repository[:tag][@sha256:<64 hex digits>], lower case"
            elif kind == "string_pattern_mismatch" and loc[:1] == ["registries"]:
                msg = "write the registry as host[:port][/path], lower case, without https://"
            elif kind == "string_pattern_mismatch" and len(loc) > 1 and loc[-2] == "owners":
                msg = "not an e-mail address; write name@example.com"
            elif kind == "too_short" and loc and loc[-1] == "owners":
                msg = "no owner; list at least one e-mail of who answers for the team's quota, e.g. [lead@example.com]"
            if kind == "string_pattern_mismatch" and loc[-2:-1] == ["tags"]:
                msg = TAG_VALUE_RULE
            if kind == "string_type" and isinstance(e["input"], int | float):
                msg = f'a number to YAML; write it in quotes ({loc[-1]}: "..."): unquoted, 1.30 is the number 1.3'
            msg = f"{e['input']!r} — {msg}" if not isinstance(e["input"], dict | list) else msg
        problems.append(Problem(path, msg))
    return problems


_CHILD_MODELS: dict[str, type[BaseModel]] = {
    "clusters": ClusterSpec,
    "node_pools": NodePoolSpec,
    "data_lakes": DataLakeSpec,
    "nodes": NodeRange,
    "capacity": Capacity,
    "network": NetworkSpec,
    "api": ApiAccess,
    "taints": Taint,
    "replicas": NodeRange,
    "node": NodeSize,
}


def _model_at(loc: list[str | int], root: type[BaseModel]) -> type[BaseModel] | None:
    names = [p for p in loc if isinstance(p, str)]
    if not names:
        return root
    return _CHILD_MODELS.get(names[-1])


# ------------------------------------------------------------------ semantic checks


def resolve_pool(cluster: ClusterSpec, pool: NodePoolSpec) -> ResolvedPool:
    """Resolve one pool against the catalog; raise CatalogError with every refusal."""
    shape = catalog.resolve(
        cluster.cloud,
        pool.accelerator,
        machine_type=pool.machine_type,
        fabric=pool.fabric,
        local_nvme=pool.local_nvme,
        region=cluster.region,
        zones=[pool.zone] if pool.zone else cluster.zones,
        node_size=(pool.node.cpus, pool.node.memory_gib) if pool.node else None,
    )
    problems: list[tuple[str, str]] = []
    nodes = pool.nodes
    if shape.tpu is not None:
        hosts = shape.tpu.hosts
        if nodes is None:
            nodes = NodeRange(min=hosts, max=hosts)
        elif nodes.max != hosts or nodes.min not in (0, hosts):
            problems.append(
                (
                    "nodes",
                    (
                        f"{{min: {nodes.min}, max: {nodes.max}}} — a {shape.tpu.topology} slice is {hosts} "
                        f"host(s) that scale together; use nodes: {{min: 0, max: {hosts}}} or "
                        f"{{min: {hosts}, max: {hosts}}}, or one pool per slice for multislice"
                    ),
                )
            )
    elif nodes is None:
        problems.append(("nodes", "required for non-TPU pools; add nodes: {min: 0, max: N}"))
    if cluster.cloud == "onprem":
        if pool.capacity.type != "on-demand":
            problems.append(("capacity", f"{pool.capacity.type!r} — on-prem nodes are owned; remove capacity"))
        if not pool.node_selector:
            problems.append(("node_selector", "required on-prem: the labels of the existing nodes of this pool"))
    elif pool.node_selector:
        problems.append(("node_selector", f"only for on-prem pools; {cluster.cloud} pools create their nodes"))
    if pool.ami_family != "al2023" and cluster.cloud != "aws":
        problems.append(("ami_family", f"{pool.ami_family!r} — only on aws; remove it for {cluster.cloud} pools"))
    zone = pool.zone or (cluster.zones[0] if cluster.zones else None)
    if pool.zone and cluster.zones and pool.zone not in cluster.zones:
        problems.append(("zone", f"{pool.zone!r} — not one of the cluster's zones {cluster.zones}"))
    if problems:
        raise CatalogError(problems)
    return ResolvedPool(spec=pool, shape=shape, nodes=nodes or NodeRange(min=0, max=1), zone=zone)


def _zone_problems(cluster: ClusterSpec, path: str, pool_index: list[int]) -> list[Problem]:
    """Zones that cannot be in the cluster's region: the cluster's own, and pools' where the cluster lists
    none (otherwise a pool's zone must be one of the cluster's, checked with the pool)."""
    if not cluster.region:
        return []
    named = [(join_path(path, "zones", k), zone) for k, zone in enumerate(cluster.zones)]
    if not cluster.zones:
        named += [
            (join_path(path, "node_pools", j, "zone"), pool.zone)
            for j, pool in zip(pool_index, cluster.node_pools, strict=True)
            if pool.zone
        ]
    found = [(where, catalog.zone_problem(cluster.cloud, cluster.region, zone)) for where, zone in named]
    return [Problem(where, message) for where, message in found if message]


def _cluster_problems(cluster: ClusterSpec, path: str, pool_index: list[int] | None = None) -> list[Problem]:
    """Semantic problems of one well-formed cluster. `pool_index` maps its pools to their raw positions."""
    index = pool_index if pool_index is not None else list(range(len(cluster.node_pools)))
    problems: list[Problem] = []
    if cluster.kubernetes_version not in SUPPORTED_KUBERNETES:
        problems.append(
            Problem(
                join_path(path, "kubernetes_version"),
                (f"{cluster.kubernetes_version!r} — supported: {', '.join(SUPPORTED_KUBERNETES)}"),
            )
        )
    if cluster.cloud == "onprem":
        if not cluster.kubeconfig:
            problems.append(
                Problem(
                    join_path(path, "kubeconfig"),
                    (
                        "required on-prem: name the stack config key that holds the kubeconfig "
                        "(pulumi config set --secret <key> < kubeconfig)"
                    ),
                )
            )
        if cluster.region:
            problems.append(Problem(join_path(path, "region"), "on-prem clusters have no cloud region; remove it"))
    else:
        if not cluster.region:
            problems.append(Problem(join_path(path, "region"), f"required for {cluster.cloud} clusters; add it"))
        problems += _zone_problems(cluster, path, index)
        if cluster.kubeconfig:
            problems.append(
                Problem(
                    join_path(path, "kubeconfig"),
                    (f"only for on-prem clusters; {cluster.cloud} clusters make their own kubeconfig"),
                )
            )
    if cluster.cloud != "azure" and cluster.network.private_dns_zones:
        problems.append(
            Problem(
                join_path(path, "network", "private_dns_zones"),
                f"azure only: {cluster.cloud} clusters reach their lakes without private endpoints; remove it",
            )
        )
    seen: dict[str, int] = {}
    for j, pool in zip(index, cluster.node_pools, strict=True):
        pool_path = join_path(path, "node_pools", j)
        if pool.name in seen:
            problems.append(
                Problem(
                    join_path(pool_path, "name"),
                    (
                        f"{pool.name!r} — already used by {join_path(path, 'node_pools', seen[pool.name])}; "
                        "names must be unique"
                    ),
                )
            )
        seen.setdefault(pool.name, j)
        try:
            resolve_pool(cluster, pool)
        except CatalogError as err:
            problems += [Problem(join_path(pool_path, field), msg) for field, msg in err.problems]
    return problems


def _well_formed_part(raw: Any, errors: list[tuple[str | int, ...]]) -> tuple[ClusterSpec | None, list[int]]:
    """The cluster without its malformed fields and pools, so their siblings can still be checked."""
    if not isinstance(raw, dict):
        return None, []
    bad_fields = {loc[0] for loc in errors if loc}
    bad_pools = {loc[1] for loc in errors if len(loc) > 1 and loc[0] == "node_pools"}
    if "cloud" in bad_fields:
        return None, []
    cleaned = {k: v for k, v in raw.items() if k not in bad_fields or k == "node_pools"}
    if "name" in bad_fields:
        cleaned["name"] = "unnamed"
    pools = raw.get("node_pools")
    pools = pools if isinstance(pools, list) else []
    index = [j for j in range(len(pools)) if j not in bad_pools]
    cleaned["node_pools"] = [pools[j] for j in index]
    try:
        return ClusterSpec.model_validate(cleaned), index
    except ValidationError:
        return None, []


def _duplicates(
    names: Iterable[str], path: str, key: str = "name", rule: str = "names must be unique"
) -> list[Problem]:
    seen: dict[str, int] = {}
    problems = []
    for i, name in enumerate(names):
        if name in seen:
            problems.append(
                Problem(join_path(path, i, key), f"{name!r} — already used by {path}[{seen[name]}]; {rule}")
            )
        seen.setdefault(name, i)
    return problems


def _check_references(spec: PlatformSpec) -> list[Problem]:
    problems = _duplicates((c.name for c in spec.clusters), "clusters")
    problems += _duplicates((d.name for d in spec.data_lakes), "data_lakes")
    problems += _duplicates((w.name for w in spec.workloads), "workloads")
    clusters = {c.name: c for c in spec.clusters}
    teams = {t.team for t in spec.teams}
    lakes = {d.name: d for d in spec.data_lakes}
    for i, lake in enumerate(spec.data_lakes):
        if lake.cloud == "onprem" and not lake.endpoint:
            problems.append(
                Problem(
                    join_path("data_lakes", i, "endpoint"),
                    "required on-prem: the S3-compatible endpoint URL (MinIO, Ceph)",
                )
            )
        if lake.cloud != "onprem" and not lake.region:
            problems.append(Problem(join_path("data_lakes", i, "region"), f"required for {lake.cloud}; add it"))
    for i, work in enumerate(spec.workloads):
        path = join_path("workloads", i)
        cluster = clusters.get(work.cluster)
        if cluster is None:
            problems.append(
                Problem(
                    join_path(path, "cluster"),
                    f"{work.cluster!r} — no such cluster; known: {', '.join(clusters) or 'none'}",
                )
            )
        elif work.pool not in {p.name for p in cluster.node_pools}:
            known = ", ".join(p.name for p in cluster.node_pools) or "none"
            problems.append(
                Problem(
                    join_path(path, "pool"), f"{work.pool!r} — cluster {cluster.name} has no such pool; known: {known}"
                )
            )
        if work.team not in teams:
            problems.append(
                Problem(
                    join_path(path, "team"),
                    (
                        f"{work.team!r} — no team file declares it; add stacks/teams/{work.team}.yaml "
                        "with team, owners and quotas"
                    ),
                )
            )
        problems += _workload_lake_problems(work.lake, lakes.get(work.lake), cluster, join_path(path, "lake"), lakes)
        if isinstance(work, ServingSpec):
            problems += _client_team_problems(work, teams, path)
        elif cluster is not None:
            problems += _training_pool_problems(work, spec.clusters.index(cluster), cluster, path)
    return problems


def _training_pool_problems(work: TrainingSpec, cluster_index: int, cluster: ClusterSpec, path: str) -> list[Problem]:
    """What TrainingJob would refuse about the job on its pool, with stack paths: a CPU pool, more pods than the
    pool has nodes (Kueue would never admit it), a TPU job that is not one pod per host of the slice, and a pod
    without a size (the pool's nodes, from the catalog or the spec, else the workload's cpu and memory_gib)."""
    pool_index = next((j for j, p in enumerate(cluster.node_pools) if p.name == work.pool), None)
    if pool_index is None:
        return []
    try:
        resolved = resolve_pool(cluster, cluster.node_pools[pool_index])
    except CatalogError:
        return []  # the pool's own problems are reported with the cluster
    shape, pool_path = resolved.shape, join_path("clusters", cluster_index, "node_pools", pool_index)
    if shape.accelerator == "cpu":
        found = ("pool", f"{work.pool!r} — a CPU pool; train on a GPU or TPU pool")
    elif shape.tpu is not None and work.nodes != shape.tpu.hosts:
        found = (
            "nodes",
            f"{work.nodes} — a TPU {shape.tpu.generation} {shape.tpu.topology} slice runs one pod per host; "
            f"use nodes: {shape.tpu.hosts}",
        )
    elif work.nodes > resolved.nodes.max:
        found = (
            "nodes",
            f"{work.nodes} — pool {work.pool} has at most {resolved.nodes.max} nodes ({pool_path}.nodes.max), "
            "so the job would never be admitted; lower nodes or raise the pool's max",
        )
    elif shape.vcpus is None and (work.cpu is None or work.memory_gib is None):
        found = (
            "cpu" if work.cpu is None else "memory_gib",
            f"pool {work.pool} does not say how big its nodes are; give the pool's node size ({pool_path}.node: "
            "{cpus: N, memory_gib: M}), or cpu and memory_gib per pod here",
        )
    else:
        return []
    return [Problem(join_path(path, found[0]), found[1])]


def _client_team_problems(work: ServingSpec, teams: set[str], path: str) -> list[Problem]:
    problems = []
    for j, client in enumerate(work.client_teams):
        if client == work.team:
            message = f"{client!r} — the server's own team always reaches it; remove it"
        elif client not in teams:
            message = f"{client!r} — no team file declares it; known teams: {', '.join(sorted(teams)) or 'none'}"
        else:
            continue
        problems.append(Problem(join_path(path, "client_teams", j), message))
    return problems


def _workload_lake_problems(
    name: str, lake: DataLakeSpec | None, cluster: ClusterSpec | None, path: str, lakes: dict[str, DataLakeSpec]
) -> list[Problem]:
    if lake is None:
        return [Problem(path, f"{name!r} — no such data lake; known: {', '.join(lakes) or 'none'}")]
    if cluster is not None and lake.cloud != cluster.cloud:
        return [
            Problem(
                path,
                (
                    f"{name!r} — the lake is on {lake.cloud}; pods on {cluster.cloud} cluster {cluster.name} get "
                    f"{cluster.cloud} identities, which it does not accept; use a lake on {cluster.cloud}"
                ),
            )
        ]
    return []


_QUOTAS: TypeAdapter[dict[str, dict[str, int]]] = TypeAdapter(cast(Any, TeamSpec.model_fields["quotas"].annotation))
QuotaRequest = tuple[str, dict[str, dict[str, int]]]
"""A team file and the quotas it asks for, per stack, of accelerators the catalog knows."""


def _team_problems(
    teams: list[tuple[str, Any]],
) -> tuple[list[TeamSpec], dict[str, str], list[QuotaRequest], list[Problem]]:
    """Parse team files one by one, so one bad file does not hide the others; a file with other mistakes still
    has its quotas checked. Returns the teams, each team's file, the quota requests (for `_quota_problems`) and
    the problems."""
    parsed: list[TeamSpec] = []
    requests: list[QuotaRequest] = []
    problems: list[Problem] = []
    seen: dict[str, str] = {}
    for source, raw in teams:
        if not isinstance(raw, dict):
            what = "empty" if raw is None else f"a {type(raw).__name__}"
            problems.append(
                Problem(
                    source,
                    f"{what} — a team file is a mapping of team, owners, quotas and lake_prefixes; "
                    "`aiinfra team new NAME --owner EMAIL` writes one",
                )
            )
            continue
        try:
            team = TeamSpec.model_validate(raw)
        except ValidationError as err:
            problems += [Problem(f"{source}: {p.path}", p.message) for p in _pydantic_problems(err, root=TeamSpec)]
            quotas = _well_formed_quotas(raw, err)
            if quotas is not None:
                problems += _quota_model_problems(source, quotas, requests)
            continue
        if team.team in seen:
            problems.append(Problem(f"{source}: team", f"{team.team!r} — already declared in {seen[team.team]}"))
            continue
        stem = PurePosixPath(source).stem
        if stem != team.team:
            problems.append(
                Problem(
                    f"{source}: team",
                    f"{team.team!r} — the file is named {stem}; rename it to {team.team}.yaml or set team: {stem}",
                )
            )
        seen[team.team] = source
        problems += _quota_model_problems(source, team.quotas, requests)
        parsed.append(team)
    return parsed, seen, requests, problems


def _well_formed_quotas(raw: Any, err: ValidationError) -> dict[str, dict[str, int]] | None:
    """The quotas of a team file that failed validation elsewhere, or None when they are malformed too."""
    if not isinstance(raw, dict) or any(e["loc"][:1] == ("quotas",) for e in err.errors()):
        return None
    return _QUOTAS.validate_python(raw.get("quotas", {}))


def _quota_model_problems(
    source: str, quotas: dict[str, dict[str, int]], requests: list[QuotaRequest]
) -> list[Problem]:
    """Unknown accelerators and negative counts; appends the rest to `requests`."""
    problems, known = [], {}
    for env, quota in quotas.items():
        for model, count in quota.items():
            path = f"{source}: quotas.{env}.{model}"
            if model not in catalog.gpu_models() and catalog.tpu_generation(model.removeprefix("TPU-")) is None:
                models = catalog.gpu_models() + catalog.tpu_models()
                problems.append(Problem(path, f"{model!r} — unknown accelerator; known: {', '.join(models)}"))
            elif count < 0:
                problems.append(Problem(path, f"{count} — must be 0 or more"))
            else:
                known.setdefault(env, {})[model] = count
    requests.append((source, {env: known.get(env, {}) for env in quotas}))
    return problems


def declared_capacity(spec: PlatformSpec) -> dict[str, dict[str, int]]:
    """Accelerators (GPUs, TPU chips) per model per cluster: the sum over its pools of max nodes x accelerators
    per node. Pools the catalog refuses are left out (their problem is reported on the pool)."""
    capacity: dict[str, dict[str, int]] = {}
    for cluster in spec.clusters:
        for pool in cluster.node_pools:
            try:
                resolved = resolve_pool(cluster, pool)
            except CatalogError:
                continue
            if resolved.shape.accelerator == "cpu":
                continue
            per_cluster = capacity.setdefault(resolved.shape.accelerator, {})
            per_cluster[cluster.name] = (
                per_cluster.get(cluster.name, 0) + resolved.nodes.max * resolved.shape.accelerators_per_node
            )
    return capacity


def describe_capacity(capacity: dict[str, dict[str, int]]) -> str:
    """`H100 (train-aws: 32, train-gcp: 32), TPU-v5p (train-gcp: 8)`, or `none`."""
    return (
        ", ".join(
            f"{model} ({', '.join(f'{c}: {n}' for c, n in clusters.items())})" for model, clusters in capacity.items()
        )
        or "none"
    )


def _quota_problems(
    spec: PlatformSpec, requests: list[QuotaRequest], stack: str | None, stacks: list[str]
) -> list[Problem]:
    """Team quotas name existing stacks, and in this stack fit a cluster: a quota applies on every cluster
    of the stack with that accelerator (each cluster's Kueue is separate), capped at what that cluster has."""
    problems = []
    capacity = declared_capacity(spec) if stack else {}
    for source, quotas in requests:
        for env, quota in quotas.items():
            if stacks and env not in stacks:
                close = difflib.get_close_matches(env, stacks, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                problems.append(
                    Problem(
                        f"{source}: quotas.{env}", f"{env!r} — no stack of that name; known: {', '.join(stacks)}{hint}"
                    )
                )
            if env != stack:
                continue
            for model, count in quota.items():
                clusters = capacity.get(model)
                path = f"{source}: quotas.{env}.{model}"
                if count > 0 and not clusters:
                    problems.append(
                        Problem(
                            path,
                            f"{count} — no {stack} cluster has {model}; {stack} has: {describe_capacity(capacity)}; "
                            f"ask for one of those or add a {model} pool",
                        )
                    )
                elif clusters and count > max(clusters.values()):
                    problems.append(
                        Problem(
                            path,
                            (
                                f"{count} — above the {model} any {stack} cluster declares "
                                f"({', '.join(f'{c}: {n}' for c, n in clusters.items())}); a quota applies on each "
                                f"cluster, so ask for at most {max(clusters.values())} or raise a pool's nodes.max"
                            ),
                        )
                    )
    return problems


def _prefix_zone_problems(spec: PlatformSpec, stack: str, sources: dict[str, str]) -> list[Problem]:
    """A team's prefixes become grants on every lake of each cloud where it has a namespace; a prefix inside a
    zone (`checkpoints/speech/`) needs that zone in each of those lakes."""
    capacity = declared_capacity(spec)
    problems = []
    for team in spec.teams:
        models = team.quotas.get(stack, {})
        clouds = {c.cloud for c in spec.clusters if any(c.name in capacity.get(m, {}) for m in models)}
        for j, prefix in enumerate(team.lake_prefixes):
            zone = prefix_zone(prefix)
            lacking = [lake for lake in spec.data_lakes if lake.cloud in clouds and zone and zone not in lake.zones]
            for lake in lacking:
                problems.append(
                    Problem(
                        f"{sources[team.team]}: {join_path('lake_prefixes', j)}",
                        f"{prefix!r} — lake {lake.name} has no {zone} zone ({', '.join(lake.zones)}); write the "
                        f"prefix without its zone (the team's area in every zone) or add {zone} to the lake",
                    )
                )
    return problems


def _pool_quota_problems(
    spec: PlatformSpec, work: TrainingSpec | ServingSpec, team: TeamSpec | None, stack: str, index: int
) -> list[Problem]:
    """A workload is queued in its team's LocalQueue for its pool's accelerator, which exists only where the
    team's quota for this stack names that accelerator (a team without any quota on the cluster is reported by
    `_namespace_problems`)."""
    cluster = next(c for c in spec.clusters if c.name == work.cluster)
    pool = next((p for p in cluster.node_pools if p.name == work.pool), None)
    quotas = team.quotas.get(stack, {}) if team else {}
    if pool is None or not quotas:
        return []
    try:
        model = resolve_pool(cluster, pool).shape.accelerator
    except CatalogError:
        return []  # reported with the cluster
    if model in quotas or model == "cpu":
        return []
    return [
        Problem(
            join_path("workloads", index, "pool"),
            f"{work.pool!r} — its {model} are not in team {work.team}'s {stack} quota ({', '.join(quotas)}); add "
            f"quotas.{stack}.{model} to stacks/teams/{work.team}.yaml",
        )
    ]


def _namespace_problems(spec: PlatformSpec, stack: str) -> list[Problem]:
    """A workload's team and its client teams need a namespace on the workload's cluster: a team has one where
    its quota for this stack names an accelerator the cluster has."""
    capacity = declared_capacity(spec)
    teams = {t.team: t for t in spec.teams}
    clusters = {c.name for c in spec.clusters}
    problems = []
    for i, work in enumerate(spec.workloads):
        if work.cluster not in clusters:
            continue
        asking = [("team", work.team)]
        if isinstance(work, ServingSpec):
            asking += [(join_path("client_teams", j), t) for j, t in enumerate(work.client_teams)]
        here = sorted(model for model, per_cluster in capacity.items() if work.cluster in per_cluster)
        problems += _pool_quota_problems(spec, work, teams.get(work.team), stack, i)
        for field, name in asking:
            team = teams.get(name)
            if team is None or any(model in here for model in team.quotas.get(stack, {})):
                continue
            problems.append(
                Problem(
                    join_path("workloads", i, field),
                    f"{name!r} — team {name} has no {stack} quota for an accelerator of {work.cluster} "
                    f"({', '.join(here) or 'none'}), so no namespace there; add one to stacks/teams/{name}.yaml "
                    "(0 makes a namespace without accelerators)",
                )
            )
    return problems


def is_production(stack: str) -> bool:
    """Stacks named prod* hold production state: their keys, vaults, lakes and registries are protected, and
    they deploy images only by digest."""
    return stack.startswith("prod")


def builds_image(work: TrainingSpec | ServingSpec) -> bool:
    """The workload runs an image built from this repository (it names no prebuilt one)."""
    return work.image is None


def image_pullers(spec: PlatformSpec) -> dict[Cloud, list[str]]:
    """Cloud → its clusters, in stack order, that run workloads on the built images: the clusters its registry
    serves (the first one also places it, by default in its region)."""
    building = {w.cluster for w in spec.workloads if builds_image(w)}
    pullers: dict[Cloud, list[str]] = {}
    for cluster in spec.clusters:
        if cluster.name in building:
            pullers.setdefault(cluster.cloud, []).append(cluster.name)
    return pullers


def _registry_problems(spec: PlatformSpec, stack: str | None) -> list[Problem]:
    """One registry per cloud, each with the settings of its cloud, only where workloads use it; on-prem
    workloads need the registry's URL to run built images; production stacks name prebuilt images by digest."""
    problems = _duplicates((r.cloud for r in spec.registries), "registries", "cloud", "one registry per cloud")
    clusters = {c.name: c for c in spec.clusters}
    pulling = image_pullers(spec)
    declared = {r.cloud for r in spec.registries}
    for i, registry in enumerate(spec.registries):
        path = join_path("registries", i)
        onprem = registry.cloud == "onprem"
        if onprem and not registry.url:
            problems.append(Problem(join_path(path, "url"), "required on-prem: host[:port][/path] of your registry"))
        if not onprem and registry.url:
            problems.append(Problem(join_path(path, "url"), "on-prem only; cloud registries are created by aiinfra"))
        if onprem and registry.region:
            problems.append(Problem(join_path(path, "region"), "on-prem registries have no cloud region; remove it"))
        if not onprem and registry.pull_secret:
            problems.append(
                Problem(
                    join_path(path, "pull_secret"),
                    f"on-prem only: {registry.cloud} nodes pull with their cloud identity; remove it",
                )
            )
        if registry.cloud != "azure" and registry.push_cidrs:
            problems.append(
                Problem(join_path(path, "push_cidrs"), "azure only: other registries authorize pushes by identity")
            )
        if registry.cloud not in pulling:
            problems.append(
                Problem(
                    path,
                    f"no workload on {registry.cloud} runs the built images (each names its own image:); remove it",
                )
            )
    for i, work in enumerate(spec.workloads):
        path = join_path("workloads", i, "image")
        cloud = _cloud_of(work, clusters)
        if cloud == "onprem" and builds_image(work) and "onprem" not in declared:
            problems.append(
                Problem(
                    path,
                    "on-prem workloads need a registry for the built image: add registries: [{cloud: onprem, url: "
                    "registry.example.com/ml}] (pushed with your docker login), or give a prebuilt image here",
                )
            )
        if stack and is_production(stack) and work.image is not None and not re.search(DIGEST_RE, work.image):
            problems.append(
                Problem(
                    path,
                    f"{work.image!r} — production stacks run images by digest: give repository@sha256:<digest> "
                    "(`docker buildx imagetools inspect IMAGE` prints it), or remove image: to build ours",
                )
            )
    return problems


def _cloud_of(work: TrainingSpec | ServingSpec, clusters: dict[str, ClusterSpec]) -> Cloud | None:
    cluster = clusters.get(work.cluster)
    return cluster.cloud if cluster else None


def build_platform(
    raw: Any, teams: list[tuple[str, Any]] | None = None, *, stack: str | None = None, stacks: Iterable[str] = ()
) -> PlatformSpec:
    """Validate a stack's `aiinfra:platform` value and its team files; raise InputError listing every problem.
    With `stack` (this stack's name), team quotas for it must fit its clusters; with `stacks` (every stack of
    the project), quotas may name only those."""
    if raw is None:
        raise InputError(
            Problem(
                "aiinfra:platform",
                "missing from the stack config; add `aiinfra:platform:` with clusters, data_lakes and workloads",
            )
        )
    if not isinstance(raw, dict):
        what = f"{raw!r:.60} — must be a mapping with clusters:, data_lakes: and workloads:"
        raise InputError(
            Problem("aiinfra:platform", what if isinstance(raw, str) else f"{type(raw).__name__} — must be a mapping")
        )
    team_specs, team_sources, quota_requests, problems = _team_problems(teams or [])
    if "teams" in raw:
        problems.append(
            Problem(
                "teams", "teams live in stacks/teams/<team>.yaml, not in the stack; move each there (aiinfra team new)"
            )
        )
    try:
        spec = PlatformSpec.model_validate({**raw, "teams": [t.model_dump() for t in team_specs]})
    except ValidationError as err:
        problems += _pydantic_problems(err)
        # Still check the well-formed parts of every cluster, so one run reports everything.
        raw_clusters = raw.get("clusters")
        raw_clusters = raw_clusters if isinstance(raw_clusters, list) else []
        for i, cluster_raw in enumerate(raw_clusters):
            errors = [e["loc"][2:] for e in err.errors() if e["loc"][:2] == ("clusters", i)]
            cluster, index = _well_formed_part(cluster_raw, errors)
            if cluster is not None:
                problems += _cluster_problems(cluster, join_path("clusters", i), index)
        raise InputError(problems) from None
    for i, cluster in enumerate(spec.clusters):
        problems += _cluster_problems(cluster, join_path("clusters", i))
    problems += _check_references(spec)
    problems += _quota_problems(spec, quota_requests, stack, sorted(stacks))
    problems += _registry_problems(spec, stack)
    if stack:
        problems += _namespace_problems(spec, stack)
        problems += _prefix_zone_problems(spec, stack, team_sources)
    if problems:
        raise InputError(problems)
    return spec


def json_schema() -> dict[str, Any]:
    """JSON Schema of `aiinfra:platform` (for editor completion of stack files)."""
    schema = PlatformSpec.model_json_schema()
    del schema["properties"]["teams"]  # filled from stacks/teams/*.yaml; a stack may not declare it
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "aiinfra:platform"
    return schema
