"""S3 API grant documents: the identity policy of a lake grant. Shared by S3 (components.aws.lake) and S3-compatible
on-prem stores (components.kubernetes.lake); kept apart from both so an on-prem-only program never imports the AWS
SDK."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

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
