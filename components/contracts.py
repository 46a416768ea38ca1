"""The contracts between the facades (`Cluster`, `DataLake`, `WorkloadIdentity`) and their cloud adapters: the
arguments a facade hands down, the base classes an adapter implements, and the table that says which adapter
serves which cloud.

Adapters import this module, never the facades, so the import graph stays facades → adapters → contracts.
"""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from aiinfra.core.catalog import NodeShape
from aiinfra.core.lake import ZONES
from aiinfra.core.vocab import Access, AmiFamily, AwsIdentityMode, CapacityType, Cloud
from components.common import Taint


@dataclass(frozen=True)
class CloudAdapters:
    """Where each facade finds one cloud's half, as "module:Class"."""

    cluster: str
    lake: str
    identity: str | None
    """None on-prem: there the identity is the service account itself."""
    registry: str


ADAPTERS: dict[Cloud, CloudAdapters] = {
    "aws": CloudAdapters(
        cluster="components.aws.eks:EksCluster",
        lake="components.aws.lake:S3Lake",
        identity="components.aws.identity:AwsWorkloadIdentity",
        registry="components.aws.registry:EcrRegistry",
    ),
    "gcp": CloudAdapters(
        cluster="components.gcp.gke:GkeCluster",
        lake="components.gcp.lake:GcsLake",
        identity="components.gcp.identity:GcpWorkloadIdentity",
        registry="components.gcp.registry:ArtifactRegistry",
    ),
    "azure": CloudAdapters(
        cluster="components.azure.aks:AksCluster",
        lake="components.azure.lake:AdlsLake",
        identity="components.azure.identity:AzureWorkloadIdentity",
        registry="components.azure.registry:AcrRegistry",
    ),
    "onprem": CloudAdapters(
        cluster="components.kubernetes.onprem:OnPremCluster",
        lake="components.kubernetes.lake:S3CompatibleLake",
        identity=None,
        registry="components.kubernetes.registry:ExternalRegistry",
    ),
}
"""Cloud → its adapters. Each is imported on first use, so a program that plans one cloud never imports another
cloud's SDK."""


def adapter_class(path: str) -> Any:
    """The class a "module:Class" entry of `ADAPTERS` names, imported now."""
    module_name, class_name = path.split(":")
    return getattr(importlib.import_module(module_name), class_name)


SYSTEM_NAMESPACE = "aiinfra-system"


@dataclass(frozen=True, kw_only=True)
class NodePoolArgs:
    name: str
    """Pool name, unique in its cluster; used in node labels and resource names."""
    shape: NodeShape
    """The catalog's resolution of the pool's accelerator: machine type, fabric, NVMe, price."""
    min_nodes: int = 0
    """Fewest nodes. Defaults to 0: the pool scales to zero when idle."""
    max_nodes: int = 1
    """Most nodes. Defaults to 1."""
    capacity_type: CapacityType = "on-demand"
    """on-demand, spot, reservation or capacity-block. Defaults to on-demand."""
    reservation_id: str | None = None
    """Reservation targeted by reservation and capacity-block pools. Defaults to none."""
    zone: str | None = None
    """The one zone of the pool's nodes. Defaults to every zone of the cluster."""
    labels: Mapping[str, str] = field(default_factory=dict)
    """Extra node labels, merged over the accelerator and fabric labels aiinfra sets."""
    taints: tuple[Taint, ...] = ()
    """Extra node taints. GPU and TPU pools always get their accelerator taint."""
    node_selector: Mapping[str, str] = field(default_factory=dict)
    """On-prem only: labels selecting the existing nodes. Defaults to none."""
    ami_family: AmiFamily = "al2023"
    """AWS only: "al2023" or "bottlerocket" (Bottlerocket NVIDIA for GPU pools). Defaults to al2023."""


@dataclass(frozen=True, kw_only=True)
class ClusterArgs:
    cloud: Cloud
    """aws, gcp, azure or onprem."""
    region: str | None = None
    """Cloud region; none on-prem."""
    zones: tuple[str, ...] = ()
    """Zones for nodes. Defaults to the first three zones the cloud reports for the region."""
    kubernetes_version: str
    """Kubernetes minor version, e.g. "1.33"."""
    node_pools: tuple[NodePoolArgs, ...] = ()
    """Pools to create (or, on-prem, to describe). Defaults to none."""
    network_cidr: str = "10.0.0.0/16"
    """CIDR of the network created when `vpc_id` is absent."""
    vpc_id: pulumi.Input[str] | None = None
    """An existing VPC/VNet to use. Defaults to a new one with private subnets and NAT."""
    subnet_ids: tuple[pulumi.Input[str], ...] = ()
    """Existing private subnets, required with `vpc_id`."""
    private_dns_zone_ids: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Azure, with `vpc_id`: privatelink zones already linked to the VNet (a hub's), zone name → id; the
    `private_network`'s `dns_zone_ids`. Defaults to none: the lakes and the registry make and link theirs."""
    public_access_cidrs: tuple[str, ...] = ()
    """CIDRs allowed to reach a public API endpoint. Defaults to none: the endpoint stays private."""
    kubeconfig: pulumi.Input[str] | None = None
    """On-prem only: the existing cluster's kubeconfig (a secret)."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """The stack's tags, merged into every resource's tags or labels."""
    protect_stateful: bool = False
    """Mark keys and vaults `protect=True` so no update or destroy can delete them (production stacks).
    Defaults to false."""


@dataclass(frozen=True)
class PrivateNetwork:
    """Azure: a VNet that reaches the stack's lakes and registry through private endpoints in one of its subnets,
    which register their addresses in the VNet's privatelink DNS zones."""

    region: str
    """The VNet's region, where its private endpoints are placed."""
    subnet_id: pulumi.Input[str]
    """The subnet the private endpoints go in."""
    vnet_id: pulumi.Input[str] | None = None
    """The VNet new privatelink zones link to. Not needed when `dns_zone_ids` names every zone an endpoint needs."""
    dns_zone_ids: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Zone name (`privatelink.blob.core.windows.net`) → id of a zone already linked to the VNet: a hub's, or one
    an earlier lake made. Endpoints register there: Azure links a VNet to one zone of a name."""


ADLS_PRIVATE_ZONES = {"blob": "privatelink.blob.core.windows.net", "dfs": "privatelink.dfs.core.windows.net"}
"""An ADLS lake's private endpoint sub-resources → the privatelink zone each registers in."""


def distinct_networks(networks: Iterable[PrivateNetwork | None]) -> tuple[PrivateNetwork, ...]:
    """One per VNet, in order: clusters on one existing VNet (named by its id) share it; the VNets clusters create
    are all distinct."""
    found: dict[object, PrivateNetwork] = {}
    for network in networks:
        if network is not None:
            found.setdefault(network.vnet_id if isinstance(network.vnet_id, str) else id(network), network)
    return tuple(found.values())


class ClusterAdapter(pulumi.ComponentResource):
    """What a cloud adapter provides to the facade."""

    kubeconfig: pulumi.Output[str]
    endpoint: pulumi.Output[str]
    private_network: PrivateNetwork | None = None
    """Azure: where the private endpoints of the stack's lakes and registry go for this cluster. None elsewhere."""

    def build_node_pool(self, name: str, args: NodePoolArgs, opts: pulumi.ResourceOptions) -> None:
        raise NotImplementedError

    def build_node_software(self, kubernetes_provider: k8s.Provider, system_namespace: k8s.core.v1.Namespace) -> None:
        """Device plugins and fabric daemons the built pools need; called once, after every pool.
        Adapters whose cluster needs none keep this default."""

    def imposed_taints(self, pool: NodePoolArgs) -> tuple[Taint, ...]:
        """Taints the cloud puts on the pool's nodes besides the accelerator's and those asked for (AKS taints
        spot nodes), so queues and workloads tolerate them. Defaults to none."""
        return ()


@dataclass(frozen=True, kw_only=True)
class DataLakeArgs:
    cloud: Cloud
    """aws, gcp, azure or onprem."""
    region: str | None = None
    """Cloud region of the bucket or storage account (and of its key). Required on the clouds; none on-prem."""
    zones: tuple[str, ...] = ZONES
    """Zones: prefixes on S3, GCS and on-prem, containers on ADLS. Defaults to raw, curated, checkpoints,
    models."""
    endpoint: str | None = None
    """On-prem only, and required there: the https URL of the S3-compatible endpoint (MinIO, Ceph RGW)."""
    bucket_name: str | None = None
    """Physical name of the bucket (S3, GCS, on-prem) or storage account (ADLS, 3-24 lower-case letters and
    digits). Defaults to the lake name plus a random suffix (S3, GCS), a hash of project, stack and lake name
    (ADLS) and the lake name on-prem."""
    versioning: bool = True
    """Keep earlier object versions (S3, GCS), so overwrites and deletes can be undone. Defaults to on; off is
    refused with `object_lock` and flagged by the policy pack. ADLS Gen2 keeps deleted blobs and containers
    through soft delete instead (`soft_delete_days`)."""
    noncurrent_version_days: int = 30
    """Days an overwritten or deleted version is kept before lifecycle expires it. Defaults to 30."""
    raw_transition_days: int = 30
    """Days after which objects in `raw/` move to an infrequent-access class (S3 Standard-IA, GCS Nearline,
    ADLS Cool). Defaults to 30, the least S3 allows."""
    raw_archive_days: int = 180
    """Days after which objects in `raw/` move to a cold class (S3 Glacier Instant Retrieval, GCS Coldline,
    ADLS Cold). Defaults to 180."""
    soft_delete_days: int = 7
    """GCS and ADLS: days deleted objects (and ADLS containers) stay recoverable. 7 to 90; defaults to 7."""
    log_retention_days: int = 365
    """Days access logs are kept in the lake's log bucket (S3, GCS). Defaults to 365."""
    object_lock: bool = False
    """S3 only: write-once-read-many object lock (model registries): every new object version is retained for
    `object_lock_days` in `object_lock_mode`. Needs versioning. Defaults to off."""
    object_lock_days: int = 30
    """Default retention of locked objects. Defaults to 30 days."""
    object_lock_mode: str = "GOVERNANCE"
    """GOVERNANCE (principals with s3:BypassGovernanceRetention may shorten it) or COMPLIANCE (nobody can).
    Defaults to GOVERNANCE."""
    private_networks: tuple[PrivateNetwork, ...] = ()
    """ADLS only, and at least one there: the networks that reach the lake, since the account refuses every public
    network (e.g. each AKS cluster's, from `distinct_networks`). Each gets a blob and a dfs private endpoint,
    registered in the zones its `dns_zone_ids` names, else in zones made here and linked to its VNet."""
    sku: str = "Standard_ZRS"
    """ADLS only: the storage account's redundancy. Defaults to zone-redundant Standard_ZRS."""
    protect: bool = False
    """Mark the stateful resources (buckets, keys, key rings, vaults, storage accounts, containers) protected so
    no update or destroy can delete them (production stacks). Defaults to false."""
    aliases: tuple[pulumi.Input[str] | pulumi.Alias, ...] = ()
    """Former names or parents of this lake, so a rename moves its resources instead of replacing them (its
    children are named after it and inherit the aliases). Defaults to none."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """The stack's tags, merged into every resource's tags or labels."""


def stack_hashed_name(name: str, prefix: str, length: int) -> str:
    """`prefix` + hex digits of a hash of project, stack and `name`: globally unique names (Azure storage
    accounts, key vaults) that stay the same across runs of one stack and differ between stacks."""
    digest = hashlib.sha256(f"{pulumi.get_project()}/{pulumi.get_stack()}/{name}".encode()).hexdigest()
    return f"{prefix}{digest[: length - len(prefix)]}"


def adls_account_name(lake: str) -> str:
    """The storage account of ADLS lake `lake` when its spec names none (`DataLakeArgs.bucket_name`)."""
    return stack_hashed_name(lake, "lake", 24)


@dataclass(frozen=True)
class LakeGrant:
    """What `DataLake.grant` made: the resources that authorize the identity and the document they carry."""

    access: Access
    prefix: str
    paths: tuple[str, ...]
    """The lake paths the grant covers (the prefix under one or every zone)."""
    resources: tuple[pulumi.Resource, ...]
    """AWS: one `aws.iam.RolePolicy` on the identity's role; GCP: one conditional `BucketIAMMember`; ADLS: one
    conditional `RoleAssignment` per zone container; on-prem: an `S3CompatibleGrant` record for export."""
    document: pulumi.Output[Any]
    """AWS and on-prem: the IAM policy document (a dict); GCP: {role, member, condition}; ADLS: a list of
    {scope, roleDefinitionId, principalId, condition, conditionVersion}."""

    @property
    def resource(self) -> pulumi.Resource:
        """The one resource of the grant (all but ADLS grants on several zones have exactly one)."""
        (only,) = self.resources
        return only


def grant_paths(prefix: str, zones: Sequence[str]) -> tuple[str, ...]:
    """The lake paths a grant prefix covers: itself when it begins with a zone, else itself under every zone."""
    head = prefix.split("/", 1)[0]
    if head in zones:
        return (prefix,)
    return tuple(f"{zone}/{prefix}" for zone in zones)


def split_zone(path: str) -> tuple[str, str]:
    """`raw/datasets/vision/` → ("raw", "datasets/vision/"): a zone container and the path inside it (ADLS)."""
    zone, _, rest = path.partition("/")
    return zone, rest


class LakeAdapter(pulumi.ComponentResource):
    """What a cloud's lake provides to the `DataLake` facade."""

    bucket_name: pulumi.Output[str]
    url: pulumi.Output[str]
    zone_urls: dict[str, pulumi.Output[str]]
    linked_networks: tuple[PrivateNetwork, ...] = ()
    """ADLS: its `private_networks` with the zones its endpoints registered in, for the next lake on those
    networks (which must reuse them). Empty elsewhere."""

    def build_grant(
        self,
        name: str,
        identity: Any,
        access: Access,
        prefix: str,
        paths: tuple[str, ...],
        opts: pulumi.ResourceOptions,
    ) -> LakeGrant:
        """Authorize `identity` (a `WorkloadIdentity` of this cloud) on `paths` of the lake."""
        raise NotImplementedError


@dataclass(frozen=True, kw_only=True)
class IdentityBindingArgs:
    cluster: ClusterAdapter
    """The cloud half of the cluster whose service account is bound."""
    namespace: str
    service_account: str
    aws_mode: AwsIdentityMode = "pod-identity"
    """AWS only: "pod-identity" or "irsa"."""
    tags: Mapping[str, str] = field(default_factory=dict)


class IdentityBinding(pulumi.ComponentResource):
    """A cloud's half of a `WorkloadIdentity`: the cloud identity and its federation with one service account."""

    service_account_annotations: dict[str, pulumi.Input[str]]
    """Annotations the service account needs. Defaults to none."""
    pod_labels: dict[str, str]
    """Labels the pods need. Defaults to none."""

    def __init__(self, token: str, name: str, opts: pulumi.ResourceOptions | None = None):
        super().__init__(token, name, None, opts)
        self.service_account_annotations = {}
        self.pod_labels = {}


@dataclass(frozen=True)
class ImageSource:
    """An image a registry builds from this repository: the repository it goes to and its Dockerfile."""

    repository: str
    """Repository name in the registry, e.g. `aiinfra-serving`."""
    dockerfile: str
    """Path of the Dockerfile from the build context (the repository root), e.g. `workloads/serving/Dockerfile`."""


@dataclass(frozen=True, kw_only=True)
class RegistryArgs:
    cloud: Cloud
    """aws, gcp, azure or onprem."""
    region: str | None = None
    """Cloud region of the registry (and of its key). Required on the clouds; none on-prem."""
    url: str | None = None
    """On-prem only, and required there: `host[:port][/path]` of the existing registry images are pushed to."""
    images: tuple[ImageSource, ...] = ()
    """What to build and push; one repository each (one Artifact Registry repository holds them all)."""
    context: str
    """Absolute path of the build context every Dockerfile's COPY lines are relative to."""
    pullers: tuple[ClusterAdapter, ...] = ()
    """Clusters of the registry's cloud whose nodes pull the images: each gets pull rights on exactly these
    repositories and nothing else of the registry. Azure needs at least one: clusters pull through private
    endpoints in their networks (and a replica in their region, where the registry is not)."""
    push_cidrs: tuple[str, ...] = ()
    """Azure only: public addresses allowed to push (the machine that runs `pulumi up`). Without them the
    registry has no public network access and pushes must come from inside a pulling cluster's network."""
    untagged_days: int = 7
    """Days after which untagged manifests (superseded builds, stale cache layers) are deleted. Defaults to 7."""
    keep_versions: int = 30
    """Newest tagged images kept per repository; older ones are deleted, unless a pod still names them.
    Defaults to 30."""
    protect: bool = False
    """Refuse deletion of the registry and its key (production stacks). Defaults to false."""
    tags: Mapping[str, str] = field(default_factory=dict)


class RegistryAdapter(pulumi.ComponentResource):
    """What a cloud's registry provides to the `ImageRegistry` facade."""

    address: pulumi.Output[str]
    """The registry host (and path prefix) images are named under, e.g. `<account>.dkr.ecr.<region>.amazonaws.com`."""

    def repository_url(self, image: ImageSource) -> pulumi.Output[str]:
        """Where `image` is pushed, without tag or digest."""
        raise NotImplementedError

    def cache_ref(self, image: ImageSource) -> pulumi.Output[str]:
        """The mutable reference BuildKit keeps `image`'s layer cache under."""
        return self.repository_url(image).apply(lambda url: f"{url}:{BUILD_CACHE_TAG}")

    def push_credentials(self) -> Any | None:
        """A `pulumi_docker_build.RegistryArgs` logging in to push, or None to use the deploying machine's
        Docker credentials (`docker login`, a credential helper)."""
        return None

    def built_after(self) -> tuple[pulumi.Resource, ...]:
        """Resources that must exist before a push succeeds (repositories, their policies)."""
        return ()


BUILD_CACHE_TAG = "buildcache"
"""The one mutable tag: BuildKit's registry cache. Every other tag is a content hash and immutable."""
