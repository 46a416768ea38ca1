"""The AWS adapter of `DataLake`: an S3 bucket encrypted with a customer-managed KMS key of its own, closed to
the public, without ACLs, versioned, tiered, logged to a hardened log bucket, optionally object-locked; grants
are inline policies on the workload identity's role.

The IAM documents are pure functions (`s3_grant_document` in components.datalake, shared with S3-compatible
on-prem stores; `lake_bucket_policy`, `log_bucket_policy`, `lake_key_policy` here) shared by the component and
the tests that enforce them in moto and lint them with parliament.
"""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_aws as aws

from aiinfra.core.vocab import Access
from components.contracts import DataLakeArgs, LakeAdapter, LakeGrant
from components.s3_grants import s3_grant_document

KEY_ADMIN_ACTIONS = (
    "kms:CancelKeyDeletion",
    "kms:CreateAlias",
    "kms:DeleteAlias",
    "kms:DescribeKey",
    "kms:DisableKey",
    "kms:DisableKeyRotation",
    "kms:EnableKey",
    "kms:EnableKeyRotation",
    "kms:GetKeyPolicy",
    "kms:GetKeyRotationStatus",
    "kms:ListGrants",
    "kms:ListKeyPolicies",
    "kms:ListKeyRotations",
    "kms:ListResourceTags",
    "kms:PutKeyPolicy",
    "kms:RotateKeyOnDemand",
    "kms:ScheduleKeyDeletion",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:UpdateAlias",
    "kms:UpdateKeyDescription",
)
"""Administration of the lake key by the account's IAM principals (each still needs an IAM policy allowing
it). No data-plane action: nobody can encrypt or decrypt with the key except through S3."""
KEY_USE_ACTIONS = (
    "kms:Decrypt",
    "kms:Encrypt",
    "kms:GenerateDataKey",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:DescribeKey",
)
LOG_DELIVERY_SERVICE = "logging.s3.amazonaws.com"
LOG_PREFIX = "s3-access/"
ABORT_MULTIPART_DAYS = 7


def _doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def _deny_insecure_transport(bucket_arn: str) -> dict[str, Any]:
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [bucket_arn, f"{bucket_arn}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def _encryption_denials(bucket_arn: str, key_arn: str) -> list[dict[str, Any]]:
    """Uploads that ask for any encryption but SSE-KMS with the lake key are refused. Uploads that ask for
    nothing get the bucket default (the lake key), so clients need not send encryption headers."""
    objects = f"{bucket_arn}/*"
    return [
        {
            "Sid": "DenyUploadsWithoutKms",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:PutObject",
            "Resource": objects,
            "Condition": {"StringNotEqualsIfExists": {"s3:x-amz-server-side-encryption": "aws:kms"}},
        },
        {
            "Sid": "DenyUploadsWithOtherKeys",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:PutObject",
            "Resource": objects,
            "Condition": {"StringNotEqualsIfExists": {"s3:x-amz-server-side-encryption-aws-kms-key-id": key_arn}},
        },
    ]


def lake_bucket_policy(*, bucket_arn: str, key_arn: str) -> dict[str, Any]:
    """The lake bucket's policy: nothing over plain HTTP (AWS endpoints themselves refuse TLS < 1.2), no upload
    under another key. It allows nothing: access comes from identity policies (grants) in the bucket's account."""
    return _doc(_deny_insecure_transport(bucket_arn), *_encryption_denials(bucket_arn, key_arn))


def log_bucket_policy(
    *, log_bucket_arn: str, source_bucket_arn: str, account_id: str, key_arn: str, prefix: str = LOG_PREFIX
) -> dict[str, Any]:
    """The log bucket's policy: the same denials, and S3 server access log delivery for the lake bucket of this
    account only, under `prefix` (S3 user guide, "Permissions for log delivery": bucket policy, not ACLs)."""
    return _doc(
        _deny_insecure_transport(log_bucket_arn),
        *_encryption_denials(log_bucket_arn, key_arn),
        {
            "Sid": "ServerAccessLogDelivery",
            "Effect": "Allow",
            "Principal": {"Service": LOG_DELIVERY_SERVICE},
            "Action": "s3:PutObject",
            "Resource": f"{log_bucket_arn}/{prefix}*",
            "Condition": {
                "ArnLike": {"aws:SourceArn": source_bucket_arn},
                "StringEquals": {"aws:SourceAccount": account_id},
            },
        },
    )


def lake_key_policy(*, partition: str, account_id: str, region: str, dns_suffix: str = "amazonaws.com") -> dict:
    """The lake key's policy, scoped to the account and the lake's principals: the account administers it
    (through IAM policies) but cannot use it directly; the account's principals use it only through S3 in the
    lake's region (and then only with a grant's IAM policy); S3 log delivery encrypts logs with it for this
    account only. In a key policy, Resource "*" means this key and nothing else."""
    root = {"AWS": f"arn:{partition}:iam::{account_id}:root"}
    return _doc(
        {
            "Sid": "AccountAdministers",
            "Effect": "Allow",
            "Principal": root,
            "Action": list(KEY_ADMIN_ACTIONS),
            "Resource": "*",
        },
        {
            "Sid": "AccountUsesThroughS3",
            "Effect": "Allow",
            "Principal": root,
            "Action": list(KEY_USE_ACTIONS),
            "Resource": "*",
            "Condition": {
                "StringEquals": {"kms:ViaService": f"s3.{region}.{dns_suffix}", "kms:CallerAccount": account_id}
            },
        },
        {
            "Sid": "ServerAccessLogDelivery",
            "Effect": "Allow",
            "Principal": {"Service": LOG_DELIVERY_SERVICE},
            "Action": ["kms:GenerateDataKey"],
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
        },
    )


def lake_lifecycle_rules(args: DataLakeArgs) -> list[aws.s3.BucketLifecycleConfigurationRuleArgsDict]:
    """Noncurrent versions expire, stale delete markers and incomplete multipart uploads go; `raw/` tiers down."""
    rules: list[aws.s3.BucketLifecycleConfigurationRuleArgsDict] = [
        {
            "id": "expire-noncurrent-versions",
            "status": "Enabled",
            "filter": {"prefix": ""},
            "noncurrent_version_expiration": {"noncurrent_days": args.noncurrent_version_days},
            "expiration": {"expired_object_delete_marker": True},
            "abort_incomplete_multipart_upload": {"days_after_initiation": ABORT_MULTIPART_DAYS},
        }
    ]
    if "raw" in args.zones:
        rules.append(
            {
                "id": "tier-raw",
                "status": "Enabled",
                "filter": {"prefix": "raw/"},
                "transitions": [
                    {"days": args.raw_transition_days, "storage_class": "STANDARD_IA"},
                    {"days": args.raw_archive_days, "storage_class": "GLACIER_IR"},
                ],
            }
        )
    return rules


def log_lifecycle_rules(args: DataLakeArgs) -> list[aws.s3.BucketLifecycleConfigurationRuleArgsDict]:
    return [
        {
            "id": "expire-logs",
            "status": "Enabled",
            "filter": {"prefix": ""},
            "expiration": {"days": args.log_retention_days},
            "noncurrent_version_expiration": {"noncurrent_days": args.noncurrent_version_days},
            "abort_incomplete_multipart_upload": {"days_after_initiation": ABORT_MULTIPART_DAYS},
        }
    ]


class S3Lake(LakeAdapter):
    """The lake bucket, its log bucket and its key."""

    provider: aws.Provider
    key: aws.kms.Key
    bucket: aws.s3.Bucket
    log_bucket: aws.s3.Bucket
    bucket_name: pulumi.Output[str]
    bucket_arn: pulumi.Output[str]
    key_arn: pulumi.Output[str]
    url: pulumi.Output[str]
    zone_urls: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: DataLakeArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aiinfra:aws:S3Lake", name, None, opts)
        self.region: str = args.region  # type: ignore[assignment]  # checked by the facade
        self.tags = dict(args.tags)
        self.provider = aws.Provider(
            f"{name}-provider",
            region=self.region,
            default_tags={"tags": self.tags},
            opts=pulumi.ResourceOptions(parent=self),
        )
        child = pulumi.ResourceOptions(parent=self, provider=self.provider)
        stateful = pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(protect=args.protect))
        invoke = pulumi.InvokeOptions(provider=self.provider)
        partition = aws.get_partition(opts=invoke)
        self.partition, self.dns_suffix = partition.partition, partition.dns_suffix
        account_id = aws.get_caller_identity(opts=invoke).account_id

        self.key = aws.kms.Key(
            f"{name}-key",
            description=f"Encryption of data lake {name} ({pulumi.get_stack()}) and its access logs",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=json.dumps(
                lake_key_policy(
                    partition=self.partition, account_id=account_id, region=self.region, dns_suffix=self.dns_suffix
                )
            ),
            tags=self.tags,
            opts=stateful,
        )
        aws.kms.Alias(
            f"{name}-key", name=f"alias/aiinfra/{pulumi.get_stack()}/{name}", target_key_id=self.key.key_id, opts=child
        )
        self.key_arn = self.key.arn

        self.log_bucket = aws.s3.Bucket(f"{name}-logs", force_destroy=False, tags=self.tags, opts=stateful)
        log_hardening = self._harden(f"{name}-logs", self.log_bucket, versioning=True, child=child)
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-logs-lifecycle",
            bucket=self.log_bucket.id,
            rules=log_lifecycle_rules(args),
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=log_hardening)),
        )

        self.bucket = aws.s3.Bucket(
            f"{name}-bucket",
            bucket=args.bucket_name,
            object_lock_enabled=True if args.object_lock else None,
            force_destroy=False,
            tags=self.tags,
            opts=stateful,
        )
        self.bucket_name = self.bucket.bucket
        self.bucket_arn = self.bucket.arn
        hardening = self._harden(
            name,
            self.bucket,
            versioning=args.versioning,
            child=child,
            policy=pulumi.Output.all(self.bucket.arn, self.key.arn).apply(
                lambda v: json.dumps(lake_bucket_policy(bucket_arn=v[0], key_arn=v[1]))
            ),
        )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle",
            bucket=self.bucket.id,
            rules=lake_lifecycle_rules(args),
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=hardening)),
        )
        log_policy = aws.s3.BucketPolicy(
            f"{name}-logs-policy",
            bucket=self.log_bucket.id,
            policy=pulumi.Output.all(self.log_bucket.arn, self.bucket.arn, self.key.arn).apply(
                lambda v: json.dumps(
                    log_bucket_policy(log_bucket_arn=v[0], source_bucket_arn=v[1], account_id=account_id, key_arn=v[2])
                )
            ),
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=log_hardening)),
        )
        aws.s3.BucketLogging(
            f"{name}-access-logging",
            bucket=self.bucket.id,
            target_bucket=self.log_bucket.id,
            target_prefix=LOG_PREFIX,
            target_object_key_format={"partitioned_prefix": {"partition_date_source": "EventTime"}},
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[log_policy])),
        )
        if args.object_lock:
            aws.s3.BucketObjectLockConfiguration(
                f"{name}-object-lock",
                bucket=self.bucket.id,
                rule={"default_retention": {"mode": args.object_lock_mode, "days": args.object_lock_days}},
                opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=hardening)),
            )

        self.url = self.bucket.bucket.apply(lambda b: f"s3://{b}/")
        self.zone_urls = {zone: self.bucket.bucket.apply(lambda b, z=zone: f"s3://{b}/{z}/") for zone in args.zones}
        self.register_outputs(
            {"bucket": self.bucket_name, "bucketArn": self.bucket_arn, "keyArn": self.key_arn, "url": self.url}
        )

    def _harden(
        self,
        name: str,
        bucket: aws.s3.Bucket,
        *,
        versioning: bool,
        child: pulumi.ResourceOptions,
        policy: pulumi.Input[str] | None = None,
    ) -> list[pulumi.Resource]:
        """Public access block, no ACLs, versioning, SSE-KMS with the lake key and a bucket key, and `policy`
        when given (the log bucket's is made later: it names the lake bucket)."""
        block = aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access-block",
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        ownership = aws.s3.BucketOwnershipControls(
            f"{name}-ownership", bucket=bucket.id, rule={"object_ownership": "BucketOwnerEnforced"}, opts=child
        )
        encryption = aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            bucket=bucket.id,
            rules=[
                {
                    "apply_server_side_encryption_by_default": {
                        "sse_algorithm": "aws:kms",
                        "kms_master_key_id": self.key.arn,
                    },
                    # One data key per bucket and period instead of one KMS call per object.
                    "bucket_key_enabled": True,
                }
            ],
            opts=child,
        )
        made: list[pulumi.Resource] = [block, ownership, encryption]
        if versioning:
            made.append(
                aws.s3.BucketVersioning(
                    f"{name}-versioning",
                    bucket=bucket.id,
                    versioning_configuration={"status": "Enabled"},
                    opts=child,
                )
            )
        if policy is not None:
            made.append(
                aws.s3.BucketPolicy(
                    f"{name}-policy",
                    bucket=bucket.id,
                    policy=policy,
                    opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[block])),
                )
            )
        return made

    def build_grant(
        self,
        name: str,
        identity: Any,
        access: Access,
        prefix: str,
        paths: tuple[str, ...],
        opts: pulumi.ResourceOptions,
    ) -> LakeGrant:
        """An inline policy on the identity's role (made with the identity's provider: the role's account)."""
        binding = identity.binding
        document = pulumi.Output.all(self.bucket.arn, self.key.arn).apply(
            lambda v: s3_grant_document(
                bucket_arn=v[0],
                key_arn=v[1],
                region=self.region,
                access=access,
                paths=paths,
                dns_suffix=self.dns_suffix,
            )
        )
        policy = aws.iam.RolePolicy(
            name,
            role=binding.role.id,
            policy=document.apply(json.dumps),
            opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(provider=binding.provider)),
        )
        return LakeGrant(access=access, prefix=prefix, paths=paths, resources=(policy,), document=document)
