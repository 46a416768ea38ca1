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

import re
from dataclasses import replace
from typing import TYPE_CHECKING
from urllib.parse import urlparse

import pulumi

from aiinfra.core.lake import PREFIX_RE, ZONES, grant_slug, prefix_zone
from aiinfra.core.vocab import ACCESS, CLOUDS, Access, Cloud
from components.common import ArgProblems, merge_tags
from components.contracts import (
    ADAPTERS,
    ADLS_PRIVATE_ZONES,
    DataLakeArgs,
    LakeAdapter,
    LakeGrant,
    adapter_class,
    grant_paths,
)

if TYPE_CHECKING:
    from components.identity import WorkloadIdentity

OBJECT_LOCK_MODES = ("GOVERNANCE", "COMPLIANCE")
S3_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
AZURE_ACCOUNT_RE = re.compile(r"^[a-z0-9]{3,24}$")


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
    if cloud == "azure":
        problems.check(
            bool(args.private_networks),
            "private_networks",
            "required on azure: the account refuses public networks, so clients reach it through private "
            "endpoints in their networks",
        )
        for i, network in enumerate(args.private_networks):
            problems.check(
                network.vnet_id is not None or set(ADLS_PRIVATE_ZONES.values()) <= set(network.dns_zone_ids),
                ("private_networks", i, "vnet_id"),
                "required unless dns_zone_ids names both privatelink zones (blob and dfs) already linked to it",
            )
    else:
        problems.check(
            not args.private_networks, "private_networks", f"azure only; {cloud} lakes have no private endpoints"
        )
    return problems


class DataLake(pulumi.ComponentResource):
    """An encrypted, private, versioned data lake on any cloud (or an on-prem S3-compatible store), with zones
    and prefix-scoped grants to workload identities."""

    cloud: Cloud
    zones: tuple[str, ...]
    adapter: LakeAdapter
    bucket_name: pulumi.Output[str]
    """The bucket (S3, GCS, on-prem) or storage account (ADLS)."""
    url: pulumi.Output[str]
    """s3://<bucket>/, gs://<bucket>/, https://<account>.dfs.core.windows.net/ or the on-prem bucket URL."""
    zone_urls: dict[str, pulumi.Output[str]]
    """Zone → the URL workloads read and write it by (abfss://<zone>@<account>.dfs.core.windows.net/ on ADLS)."""
    grants: list[LakeGrant]
    tags: dict[str, str]
    """The stack's tags merged with `aiinfra-lake: <name>`."""

    def __init__(self, name: str, args: DataLakeArgs, opts: pulumi.ResourceOptions | None = None):
        lake_problems(name, args).raise_if_any()  # before registering anything
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(aliases=list(args.aliases)))
        super().__init__("aiinfra:index:DataLake", name, None, opts)
        self._name = name
        self.cloud = args.cloud
        self.zones = tuple(args.zones)
        self.tags = merge_tags(args.tags, {"aiinfra-lake": name})
        adapter_cls = adapter_class(ADAPTERS[args.cloud].lake)
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

    def grant(self, identity: WorkloadIdentity, *, access: Access, prefix: str, name: str | None = None) -> LakeGrant:
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
