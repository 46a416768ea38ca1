"""The provider-neutral `DataLake` facade and its grants.

A lake is one bucket (S3, GCS) or one ADLS Gen2 storage account, encrypted with a customer-managed key of its
own, closed to the public, versioned, logged and tiered, with four zones: `raw/`, `curated/`, `checkpoints/`,
`models/`. On S3 and GCS a zone is a top-level prefix of the bucket; on ADLS it is a container (a file system)
of that name. On-prem lakes are S3-compatible stores (MinIO, Ceph RGW) that aiinfra cannot configure: the
facade records their endpoint, and their grants are policy documents for the operator to apply.

`DataLake.grant(identity, access=..., prefix=...)` gives one `WorkloadIdentity` (components/identity.py)
exactly one area of the lake and returns what it created with the document it rendered:

- `prefix` is lake-relative, lower-case segments each ending in '/'. A prefix that begins with a zone
  (`raw/teams/vision/`) is that subtree. A prefix that does not (`datasets/vision/`, the form team requests
  use) is the team's area *in every zone of the lake*: `raw/datasets/vision/`, `curated/datasets/vision/`,
  `checkpoints/datasets/vision/` and `models/datasets/vision/`.
- `access="read"` reads and lists objects under the paths; `access="write"` also creates, overwrites and
  deletes them. A delete under versioning (S3, GCS) leaves the earlier version recoverable until the lake's
  `noncurrent_version_days` pass; no grant ever allows deleting versions for good (S3 `s3:DeleteObjectVersion`)
  or changing retention, policies or keys. There is no "admin" access: administration is the deployer's.
- Identities and lakes must be on the same cloud: an AWS role cannot be authorized by GCS or ADLS (and the
  reverse), and aiinfra does not federate across clouds; such a grant is an error, not a silent no-op.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import pulumi

from aiinfra.lake import PREFIX_RE, ZONES, grant_slug, prefix_zone
from components.common import ArgProblems, merge_tags

if TYPE_CHECKING:
    from components.identity import WorkloadIdentity

ACCESS = ("read", "write")
CLOUDS = ("aws", "gcp", "azure", "onprem")
OBJECT_LOCK_MODES = ("GOVERNANCE", "COMPLIANCE")
S3_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
AZURE_ACCOUNT_RE = re.compile(r"^[a-z0-9]{3,24}$")

# cloud → "module:Class" of its adapter; imported on first use so a program that plans one cloud never
# imports another cloud's SDK.
ADAPTERS: dict[str, str] = {
    "aws": "components.aws.lake:S3Lake",
    "gcp": "components.gcp.lake:GcsLake",
    "azure": "components.azure.lake:AdlsLake",
    "onprem": "components.kubernetes.lake:S3CompatibleLake",
}
TOKENS = {
    "aws": "aiinfra:aws:S3Lake",
    "gcp": "aiinfra:gcp:GcsLake",
    "azure": "aiinfra:azure:AdlsLake",
    "onprem": "aiinfra:kubernetes:S3CompatibleLake",
}


@dataclass(frozen=True, kw_only=True)
class DataLakeArgs:
    cloud: str
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
    private_endpoint_subnet_id: pulumi.Input[str] | None = None
    """ADLS only, and required there: the subnet (e.g. an AKS cluster's private-endpoint subnet) that gets the
    account's blob and dfs private endpoints; the account itself refuses every public network."""
    vnet_id: pulumi.Input[str] | None = None
    """ADLS only: the VNet the lake's new privatelink DNS zones are linked to. Required unless
    `private_dns_zone_ids` names existing zones."""
    private_dns_zone_ids: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """ADLS only: existing `privatelink.blob.core.windows.net` and `privatelink.dfs.core.windows.net` zones, as
    {"blob": id, "dfs": id}. Defaults to none: the lake creates both zones and links them to `vnet_id` (give
    existing ones when another lake already linked such zones to that VNet)."""
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


@dataclass(frozen=True)
class LakeGrant:
    """What `DataLake.grant` made: the resources that authorize the identity and the document they carry."""

    access: str
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


def lake_problems(name: str, args: DataLakeArgs) -> ArgProblems:
    """Every problem of the plain arguments, collected so they are raised together."""
    problems = ArgProblems(name)
    cloud = args.cloud
    problems.check(cloud in CLOUDS, "cloud", f"{cloud!r} — choose one of {', '.join(CLOUDS)}")
    onprem = cloud == "onprem"
    if cloud in CLOUDS:
        problems.check(
            onprem or bool(args.region), "region", f"required on {cloud}: the bucket and its key live in one region"
        )
        problems.check(not (onprem and args.region), "region", "on-prem lakes have no cloud region; remove it")
    if onprem:
        url = urlparse(args.endpoint or "")
        problems.check(
            url.scheme == "https" and bool(url.hostname),
            "endpoint",
            f"{args.endpoint!r} — give the https URL of the S3-compatible endpoint (TLS only)",
        )
    else:
        problems.check(args.endpoint is None, "endpoint", "on-prem only; cloud lakes use the cloud's endpoint")
    problems.check(bool(args.zones), "zones", "give at least one zone")
    unknown = [z for z in args.zones if z not in ZONES]
    problems.check(not unknown, "zones", f"{unknown} — zones are {', '.join(ZONES)}")
    problems.check(len(set(args.zones)) == len(args.zones), "zones", f"{list(args.zones)} — zones repeat")
    if args.bucket_name is not None:
        pattern, what = (
            (AZURE_ACCOUNT_RE, "3-24 lower-case letters and digits")
            if cloud == "azure"
            else (S3_BUCKET_RE, "3-63 lower-case letters, digits, '.' and '-', starting and ending alphanumeric")
        )
        problems.check(bool(pattern.match(args.bucket_name)), "bucket_name", f"{args.bucket_name!r} — {what}")
    problems.check(args.noncurrent_version_days >= 1, "noncurrent_version_days", "must be 1 or more")
    problems.check(
        args.raw_transition_days >= 30,
        "raw_transition_days",
        f"{args.raw_transition_days} — S3 moves objects to Standard-IA after 30 days at the earliest",
    )
    problems.check(
        args.raw_archive_days > args.raw_transition_days,
        "raw_archive_days",
        f"{args.raw_archive_days} — must come after raw_transition_days ({args.raw_transition_days})",
    )
    problems.check(7 <= args.soft_delete_days <= 90, "soft_delete_days", f"{args.soft_delete_days} — 7 to 90 days")
    problems.check(args.log_retention_days >= 1, "log_retention_days", "must be 1 or more")
    if args.object_lock:
        problems.check(
            cloud == "aws",
            "object_lock",
            "S3 only: GCS bucket retention cannot be combined with versioning, ADLS Gen2 immutability is per "
            "container, and on-prem stores are configured by their operators",
        )
        problems.check(args.versioning, "versioning", "object lock needs versioning; turn versioning on")
        problems.check(args.object_lock_days >= 1, "object_lock_days", "must be 1 or more")
        problems.check(
            args.object_lock_mode in OBJECT_LOCK_MODES,
            "object_lock_mode",
            f"{args.object_lock_mode!r} — one of {', '.join(OBJECT_LOCK_MODES)}",
        )
    azure_only = {
        "private_endpoint_subnet_id": args.private_endpoint_subnet_id is not None,
        "vnet_id": args.vnet_id is not None,
        "private_dns_zone_ids": bool(args.private_dns_zone_ids),
    }
    if cloud == "azure":
        problems.check(
            args.private_endpoint_subnet_id is not None,
            "private_endpoint_subnet_id",
            "required on azure: the account refuses public networks, so clients reach it through private "
            "endpoints in this subnet",
        )
        problems.check(
            args.vnet_id is not None or bool(args.private_dns_zone_ids),
            "vnet_id",
            "required on azure unless private_dns_zone_ids names existing privatelink zones",
        )
        extra = sorted(set(args.private_dns_zone_ids) - {"blob", "dfs"})
        problems.check(not extra, "private_dns_zone_ids", f"{extra} — keys are 'blob' and 'dfs'")
        if args.private_dns_zone_ids:
            missing = sorted({"blob", "dfs"} - set(args.private_dns_zone_ids))
            problems.check(not missing, "private_dns_zone_ids", f"missing {missing}: give both or neither")
            problems.check(
                args.vnet_id is None,
                "vnet_id",
                "not used with private_dns_zone_ids (the given zones are already linked); remove one",
            )
    else:
        for arg, given in azure_only.items():
            problems.check(not given, arg, f"azure only; {cloud} lakes have no private endpoints")
    return problems


class DataLake(pulumi.ComponentResource):
    """An encrypted, private, versioned data lake on any cloud (or an on-prem S3-compatible store), with zones
    and prefix-scoped grants to workload identities."""

    cloud: str
    zones: tuple[str, ...]
    adapter: pulumi.ComponentResource
    bucket_name: pulumi.Output[str]
    """The bucket (S3, GCS, on-prem) or storage account (ADLS)."""
    url: pulumi.Output[str]
    """s3://<bucket>/, gs://<bucket>/, https://<account>.dfs.core.windows.net/ or the on-prem bucket URL."""
    zone_urls: dict[str, pulumi.Output[str]]
    """Zone → the URL workloads read and write it by (abfss://<zone>@<account>.dfs.core.windows.net/ on ADLS)."""
    grants: list[LakeGrant]

    def __init__(self, name: str, args: DataLakeArgs, opts: pulumi.ResourceOptions | None = None):
        lake_problems(name, args).raise_if_any()  # before registering anything
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(aliases=list(args.aliases)))
        super().__init__("aiinfra:index:DataLake", name, None, opts)
        self._name = name
        self.cloud = args.cloud
        self.zones = tuple(args.zones)
        self.tags = merge_tags(args.tags, {"aiinfra-lake": name})
        module_name, class_name = ADAPTERS[args.cloud].split(":")
        adapter_cls = getattr(importlib.import_module(module_name), class_name)
        # The adapter shares the lake's name (its type token tells them apart), so physical names read
        # `<lake>-<role>`; it gets the lake's merged tags.
        self.adapter = adapter_cls(name, replace(args, tags=self.tags), pulumi.ResourceOptions(parent=self))
        self.bucket_name = self.adapter.bucket_name
        self.url = self.adapter.url
        self.zone_urls = dict(self.adapter.zone_urls)
        self.grants = []
        self._grant_names: set[str] = set()
        self.register_outputs(
            {"cloud": args.cloud, "bucket": self.bucket_name, "url": self.url, "zones": self.zone_urls}
        )

    def grant(self, identity: WorkloadIdentity, *, access: str, prefix: str, name: str | None = None) -> LakeGrant:
        """Let `identity` read (`access="read"`) or read and write (`access="write"`) objects under `prefix`
        (see the module docstring for how a prefix maps to zones) and nothing else of this lake. Returns the
        resources made and the rendered document. Problems (unknown access, a bad prefix, a zone the lake does
        not have, an identity on another cloud, a repeated grant) are raised together before anything is made.
        """
        grant_name = name or f"{self._name}-{identity.name}-{access}-{grant_slug(prefix) or 'all'}"
        problems = ArgProblems(grant_name)
        problems.check(access in ACCESS, "access", f"{access!r} — one of {', '.join(ACCESS)}")
        valid_prefix = bool(PREFIX_RE.match(prefix))
        problems.check(
            valid_prefix,
            "prefix",
            f"{prefix!r} — lower-case segments each ending in '/', e.g. 'datasets/vision/' or 'raw/teams/vision/'",
        )
        if valid_prefix:
            zone = prefix_zone(prefix)
            problems.check(
                zone is None or zone in self.zones,
                "prefix",
                f"{prefix!r} — zone {zone!r} is not a zone of lake {self._name} ({', '.join(self.zones)})",
            )
        problems.check(
            identity.cloud == self.cloud,
            "identity",
            f"{identity.name} is a {identity.cloud} identity and lake {self._name} is on {self.cloud}: "
            f"{_CROSS_CLOUD.get((identity.cloud, self.cloud), 'identities are authorized only by their own cloud')}",
        )
        problems.check(
            grant_name not in self._grant_names, "name", "granted twice; give each grant its own name or prefix"
        )
        problems.raise_if_any()
        self._grant_names.add(grant_name)
        paths = grant_paths(prefix, self.zones)
        made = self.adapter.build_grant(
            grant_name, identity, access, prefix, paths, pulumi.ResourceOptions(parent=self)
        )
        self.grants.append(made)
        return made


_CROSS_CLOUD = {
    ("aws", "gcp"): "GCS authorizes Google identities only; an IAM role cannot be given a bucket binding",
    ("aws", "azure"): "ADLS authorizes Entra ID principals only; an IAM role cannot be given a role assignment",
    ("gcp", "aws"): "S3 authorizes AWS principals only; a Google service account cannot hold an IAM policy",
    ("gcp", "azure"): "ADLS authorizes Entra ID principals only",
    ("azure", "aws"): "S3 authorizes AWS principals only; a managed identity cannot hold an IAM policy",
    ("azure", "gcp"): "GCS authorizes Google identities only",
}


# ------------------------------------------------------------------ S3 API grant documents
# Shared by S3 (components.aws.lake) and S3-compatible on-prem stores (components.kubernetes.lake); kept here so
# an on-prem-only program never imports the AWS SDK.

READ_OBJECT_ACTIONS = ("s3:GetObject", "s3:GetObjectVersion")
"""GetObject also authorizes HEAD; GetObjectVersion reads a named earlier version (recovery)."""
WRITE_OBJECT_ACTIONS = (
    "s3:PutObject",
    "s3:AbortMultipartUpload",
    "s3:ListMultipartUploadParts",
    "s3:DeleteObject",
)
"""Write adds uploads (multipart included) and deletes. A delete of a versioned object only adds a delete
marker: the data stays recoverable until lifecycle expires it. `s3:DeleteObjectVersion` (deleting for good),
retention, tagging, ACL and policy actions are never granted."""
READ_KEY_ACTIONS = ("kms:Decrypt",)
WRITE_KEY_ACTIONS = ("kms:Decrypt", "kms:GenerateDataKey")
"""SSE-KMS: reads decrypt the data key; writes generate one (multipart uploads also decrypt it)."""


def s3_grant_document(
    *,
    bucket_arn: str,
    access: str,
    paths: Sequence[str],
    key_arn: str | None = None,
    region: str | None = None,
    dns_suffix: str = "amazonaws.com",
) -> dict[str, Any]:
    """The identity policy of a grant: object actions on `<bucket>/<path>*` for each path only, ListBucket on
    the bucket only for listings whose prefix lies under a path, and (with a key) the lake key only through S3
    in the lake's region. No `*` action or resource anywhere. Without `key_arn` (S3-compatible on-prem stores,
    whose encryption is server-side configuration) there is no KMS statement."""
    if access not in ("read", "write"):
        raise ValueError(f"access {access!r}: read or write")
    actions = READ_OBJECT_ACTIONS + (WRITE_OBJECT_ACTIONS if access == "write" else ())
    statements: list[dict[str, Any]] = [
        {
            "Sid": "ReadWrite" if access == "write" else "Read",
            "Effect": "Allow",
            "Action": list(actions),
            "Resource": [f"{bucket_arn}/{path}*" for path in paths],
        },
        {
            "Sid": "ListUnderPrefix",
            "Effect": "Allow",
            "Action": ["s3:ListBucket"],
            "Resource": [bucket_arn],
            "Condition": {"StringLike": {"s3:prefix": [f"{path}*" for path in paths]}},
        },
    ]
    if key_arn is not None:
        if not region:
            raise ValueError("a key needs its region (the kms:ViaService condition names S3 in that region)")
        statements.append(
            {
                "Sid": "UseLakeKeyThroughS3",
                "Effect": "Allow",
                "Action": list(WRITE_KEY_ACTIONS if access == "write" else READ_KEY_ACTIONS),
                "Resource": [key_arn],
                "Condition": {"StringEquals": {"kms:ViaService": f"s3.{region}.{dns_suffix}"}},
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}
