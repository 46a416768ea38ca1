"""The on-prem adapter of `DataLake`: an existing S3-compatible store (MinIO, Ceph RGW) at a given https
endpoint. aiinfra cannot create buckets, keys or identities there (it has no credentials for the store and
nothing to create them with), so the lake records its endpoint and bucket and each grant records the IAM-style
policy document the store needs, as an `aiinfra:kubernetes:S3CompatibleGrant` whose `policy` input
`aiinfra plan --export` writes for review.

Applying a grant is the store operator's step: on MinIO, `mc admin policy create <alias> <grant> policy.json`,
then map it to the workload's service account (`principal`, the token subject
`system:serviceaccount:<ns>:<sa>`) through MinIO's OpenID configuration (a policy claim, or
`mc admin policy attach` for the user that identity maps to). Encryption at rest, versioning and object lock
are the store's configuration (MinIO KES / SSE-KMS, `mc version enable`), not this document's.
"""

from __future__ import annotations

import json
from typing import Any

import pulumi

from aiinfra.core.vocab import Access
from components.contracts import DataLakeArgs, LakeAdapter, LakeGrant
from components.s3_grants import s3_grant_document

S3_COMPATIBLE_PARTITION = "aws"
"""MinIO and Ceph RGW accept AWS-style ARNs (`arn:aws:s3:::<bucket>`) in their policies."""


class S3CompatibleGrant(pulumi.ComponentResource):
    """The record of a grant on an on-prem store: its inputs are the document and who it is for. Creates
    nothing."""

    def __init__(self, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions | None = None):
        super().__init__("aiinfra:kubernetes:S3CompatibleGrant", name, props, opts)
        self.register_outputs({})


class S3CompatibleLake(LakeAdapter):
    """An existing S3-compatible bucket on-prem, described rather than created."""

    endpoint: str
    bucket_name: pulumi.Output[str]
    url: pulumi.Output[str]
    zone_urls: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: DataLakeArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aiinfra:kubernetes:S3CompatibleLake", name, None, opts)
        self.endpoint = args.endpoint or ""
        bucket = args.bucket_name or name
        self._bucket = bucket
        self.bucket_name = pulumi.Output.from_input(bucket)
        self.url = pulumi.Output.from_input(f"s3://{bucket}/")
        self.zone_urls = {zone: pulumi.Output.from_input(f"s3://{bucket}/{zone}/") for zone in args.zones}
        self.register_outputs({"endpoint": self.endpoint, "bucket": bucket, "url": self.url, "created": False})

    def build_grant(
        self,
        name: str,
        identity: Any,
        access: Access,
        prefix: str,
        paths: tuple[str, ...],
        opts: pulumi.ResourceOptions,
    ) -> LakeGrant:
        document = s3_grant_document(
            bucket_arn=f"arn:{S3_COMPATIBLE_PARTITION}:s3:::{self._bucket}", access=access, paths=paths
        )
        record = S3CompatibleGrant(
            name,
            {
                "endpoint": self.endpoint,
                "bucket": self._bucket,
                "principal": identity.subject,
                "policy": json.dumps(document),
                "applied": False,
            },
            opts,
        )
        return LakeGrant(
            access=access,
            prefix=prefix,
            paths=paths,
            resources=(record,),
            document=pulumi.Output.from_input(document),
        )
