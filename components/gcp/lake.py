"""The GCP adapter of `DataLake`: a Cloud Storage bucket encrypted with a Cloud KMS key of its own (rotated every
90 days; Google-managed and customer-supplied encryption refused), uniform bucket-level access, public access
prevention enforced, versioning, soft delete, lifecycle and usage logs to a hardened log bucket. Grants are
conditional bucket IAM bindings for the identity's service account.

Callers need no KMS permission: with a default CMEK, Cloud Storage's service agent encrypts and decrypts, and it
holds roles/cloudkms.cryptoKeyEncrypterDecrypter on the lake key only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi
import pulumi_gcp as gcp

from aiinfra.core.vocab import Access
from components.common import gcp_labels
from components.contracts import DataLakeArgs, LakeAdapter, LakeGrant
from components.gcp.keys import service_key

ROLES = {"read": "roles/storage.objectViewer", "write": "roles/storage.objectUser"}
"""objectViewer: get and list objects. objectUser adds create, overwrite, delete and multipart uploads (GCS has
no separate permission for deleting a noncurrent generation: soft delete keeps those for `soft_delete_days`)."""
USAGE_LOG_WRITER = "group:cloud-storage-analytics@google.com"
"""The group Cloud Storage writes usage logs as (Cloud Storage docs, "Usage logs & storage logs")."""
LOG_PREFIX = "gcs-usage/"
SECONDS_PER_DAY = 86400
ABORT_MULTIPART_DAYS = 7


def gcs_grant_condition(bucket: str, paths: Sequence[str]) -> str:
    """The IAM condition of a grant: objects whose name starts with a path, and listings of the bucket whose
    prefix starts with one (the `storage.googleapis.com/objectListPrefix` API attribute)."""
    objects = " || ".join(f'resource.name.startsWith("projects/_/buckets/{bucket}/objects/{path}")' for path in paths)
    listings = " || ".join(
        f'api.getAttribute("storage.googleapis.com/objectListPrefix", "").startsWith("{path}")' for path in paths
    )
    return f'({objects}) || (resource.type == "storage.googleapis.com/Bucket" && ({listings}))'


def gcs_grant_binding(*, bucket: str, member: str, access: str, paths: Sequence[str]) -> dict[str, Any]:
    """The conditional binding a grant makes: {role, member, condition {title, description, expression}}."""
    if access not in ROLES:
        raise ValueError(f"access {access!r}: read or write")
    return {
        "role": ROLES[access],
        "member": member,
        "condition": {
            "title": f"aiinfra {access} {' '.join(paths)}"[:100],
            "description": f"aiinfra lake grant: {access} objects under {', '.join(paths)} of {bucket}",
            "expression": gcs_grant_condition(bucket, paths),
        },
    }


def lake_lifecycle_rules(args: DataLakeArgs) -> list[gcp.storage.BucketLifecycleRuleArgsDict]:
    rules: list[gcp.storage.BucketLifecycleRuleArgsDict] = [
        {
            "action": {"type": "Delete"},
            "condition": {"days_since_noncurrent_time": args.noncurrent_version_days, "with_state": "ARCHIVED"},
        },
        {"action": {"type": "AbortIncompleteMultipartUpload"}, "condition": {"age": ABORT_MULTIPART_DAYS}},
    ]
    if "raw" in args.zones:
        raw_rules: list[gcp.storage.BucketLifecycleRuleArgsDict] = [
            {
                "action": {"type": "SetStorageClass", "storage_class": "NEARLINE"},
                "condition": {
                    "age": args.raw_transition_days,
                    "matches_prefixes": ["raw/"],
                    "matches_storage_classes": ["STANDARD"],
                    "with_state": "LIVE",
                },
            },
            {
                "action": {"type": "SetStorageClass", "storage_class": "COLDLINE"},
                "condition": {
                    "age": args.raw_archive_days,
                    "matches_prefixes": ["raw/"],
                    "matches_storage_classes": ["NEARLINE"],
                    "with_state": "LIVE",
                },
            },
        ]
        rules += raw_rules
    return rules


class GcsLake(LakeAdapter):
    """The lake bucket, its log bucket, and their key."""

    provider: gcp.Provider
    key_ring: gcp.kms.KeyRing
    key: gcp.kms.CryptoKey
    bucket: gcp.storage.Bucket
    log_bucket: gcp.storage.Bucket
    bucket_name: pulumi.Output[str]
    url: pulumi.Output[str]
    zone_urls: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: DataLakeArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aiinfra:gcp:GcsLake", name, None, opts)
        region: str = args.region  # type: ignore[assignment]  # checked by the facade
        self.labels = gcp_labels(args.tags)
        self.provider = gcp.Provider(
            f"{name}-provider", region=region, default_labels=self.labels, opts=pulumi.ResourceOptions(parent=self)
        )
        child = pulumi.ResourceOptions(parent=self, provider=self.provider)
        stateful = pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(protect=args.protect))
        agent = gcp.storage.get_project_service_account_output(opts=pulumi.InvokeOutputOptions(provider=self.provider))
        self.key_ring, self.key, key_grant = service_key(
            name,
            key="key",
            agent="storage-agent",
            member=agent.email_address.apply(lambda email: f"serviceAccount:{email}"),
            region=region,
            labels=self.labels,
            protect=args.protect,
            opts=child,
        )
        # The buckets cannot be created with a default key their service agent may not use yet.
        after_key = pulumi.ResourceOptions.merge(stateful, pulumi.ResourceOptions(depends_on=[key_grant]))

        self.log_bucket = gcp.storage.Bucket(
            f"{name}-logs",
            location=region,
            **self._hardening(args),
            lifecycle_rules=[
                {"action": {"type": "Delete"}, "condition": {"age": args.log_retention_days}},
                {
                    "action": {"type": "Delete"},
                    "condition": {"days_since_noncurrent_time": args.noncurrent_version_days, "with_state": "ARCHIVED"},
                },
            ],
            opts=after_key,
        )
        gcp.storage.BucketIAMMember(
            f"{name}-logs-writer",
            bucket=self.log_bucket.name,
            role="roles/storage.objectCreator",
            member=USAGE_LOG_WRITER,
            opts=child,
        )
        self.bucket = gcp.storage.Bucket(
            f"{name}-bucket",
            name=args.bucket_name,
            location=region,
            **self._hardening(args),
            lifecycle_rules=lake_lifecycle_rules(args),
            logging={"log_bucket": self.log_bucket.name, "log_object_prefix": LOG_PREFIX},
            opts=after_key,
        )
        self.bucket_name = self.bucket.name
        self.url = self.bucket.name.apply(lambda b: f"gs://{b}/")
        self.zone_urls = {zone: self.bucket.name.apply(lambda b, z=zone: f"gs://{b}/{z}/") for zone in args.zones}
        self.register_outputs({"bucket": self.bucket_name, "keyId": self.key.id, "url": self.url})

    def _hardening(self, args: DataLakeArgs) -> dict[str, Any]:
        return {
            "storage_class": "STANDARD",
            "uniform_bucket_level_access": True,
            "public_access_prevention": "enforced",
            "versioning": {"enabled": args.versioning},
            "soft_delete_policy": {"retention_duration_seconds": args.soft_delete_days * SECONDS_PER_DAY},
            "encryption": {
                "default_kms_key_name": self.key.id,
                # Objects can only be written under a customer-managed key (the lake's, by default).
                "google_managed_encryption_enforcement_config": {"restriction_mode": "FullyRestricted"},
                "customer_supplied_encryption_enforcement_config": {"restriction_mode": "FullyRestricted"},
            },
            "force_destroy": False,
            "labels": self.labels,
        }

    def build_grant(
        self,
        name: str,
        identity: Any,
        access: Access,
        prefix: str,
        paths: tuple[str, ...],
        opts: pulumi.ResourceOptions,
    ) -> LakeGrant:
        """One conditional binding on the bucket for the identity's service account."""
        document = pulumi.Output.all(self.bucket.name, identity.binding.member).apply(
            lambda v: gcs_grant_binding(bucket=v[0], member=v[1], access=access, paths=paths)
        )
        member = gcp.storage.BucketIAMMember(
            name,
            bucket=self.bucket.name,
            role=ROLES[access],
            member=identity.binding.member,
            condition=document.apply(lambda d: d["condition"]),
            opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(provider=self.provider)),
        )
        return LakeGrant(access=access, prefix=prefix, paths=paths, resources=(member,), document=document)
