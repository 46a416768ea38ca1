"""Every AWS API call the audit makes, with the IAM action that allows it: the reader refuses a call not listed
here, so `aiinfra audit --print-policy` (made from this table) is exactly what the audit needs, read-only.

Actions and their resource types: the AWS Service Authorization Reference
(https://docs.aws.amazon.com/service-authorization/latest/reference/reference_policies_actions-resources-contextkeys.html).
"""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass(frozen=True)
class Call:
    service: str
    """boto3 client name."""
    operation: str
    """The API operation (botocore's name), e.g. GetBucketEncryption."""
    action: str
    """The IAM action that authorizes it (S3's differ from the operation names)."""
    resource: str
    """The resource ARN pattern the action applies to ('*' where the action has no resource-level permission);
    `{region}` is filled in by `policy_document`."""


_S3_BUCKET = "arn:aws:s3:::*"
_ROLE = "arn:aws:iam::*:role/*"
_KEY = "arn:aws:kms:{region}:*:key/*"
_CLUSTER = "arn:aws:eks:{region}:*:cluster/*"

CALLS: tuple[Call, ...] = (
    # S3: bucket listing, then each bucket's settings (S3 action names from the S3 API permissions mapping:
    # https://docs.aws.amazon.com/AmazonS3/latest/userguide/using-with-s3-policy-actions.html)
    Call("s3", "ListBuckets", "s3:ListAllMyBuckets", "*"),
    Call("s3", "GetBucketLocation", "s3:GetBucketLocation", _S3_BUCKET),
    Call("s3", "GetBucketTagging", "s3:GetBucketTagging", _S3_BUCKET),
    Call("s3", "GetBucketEncryption", "s3:GetEncryptionConfiguration", _S3_BUCKET),
    Call("s3", "GetPublicAccessBlock", "s3:GetBucketPublicAccessBlock", _S3_BUCKET),
    Call("s3", "GetBucketVersioning", "s3:GetBucketVersioning", _S3_BUCKET),
    Call("s3", "GetBucketOwnershipControls", "s3:GetBucketOwnershipControls", _S3_BUCKET),
    Call("s3", "GetBucketPolicy", "s3:GetBucketPolicy", _S3_BUCKET),
    Call("s3", "GetBucketAcl", "s3:GetBucketAcl", _S3_BUCKET),
    # KMS
    Call("kms", "ListKeys", "kms:ListKeys", "*"),
    Call("kms", "ListAliases", "kms:ListAliases", "*"),
    Call("kms", "DescribeKey", "kms:DescribeKey", _KEY),
    Call("kms", "GetKeyRotationStatus", "kms:GetKeyRotationStatus", _KEY),
    Call("kms", "GetKeyPolicy", "kms:GetKeyPolicy", _KEY),
    Call("kms", "ListResourceTags", "kms:ListResourceTags", _KEY),
    # IAM (global)
    Call("iam", "ListRoles", "iam:ListRoles", "*"),
    Call("iam", "ListRoleTags", "iam:ListRoleTags", _ROLE),
    Call("iam", "ListRolePolicies", "iam:ListRolePolicies", _ROLE),
    Call("iam", "GetRolePolicy", "iam:GetRolePolicy", _ROLE),
    Call("iam", "ListAttachedRolePolicies", "iam:ListAttachedRolePolicies", _ROLE),
    # EKS
    Call("eks", "ListClusters", "eks:ListClusters", "*"),
    Call("eks", "DescribeCluster", "eks:DescribeCluster", _CLUSTER),
    Call("eks", "ListNodegroups", "eks:ListNodegroups", _CLUSTER),
    Call("eks", "DescribeNodegroup", "eks:DescribeNodegroup", "arn:aws:eks:{region}:*:nodegroup/*/*/*"),
    Call("eks", "ListAddons", "eks:ListAddons", _CLUSTER),
    Call("eks", "DescribeAddon", "eks:DescribeAddon", "arn:aws:eks:{region}:*:addon/*/*/*"),
    # EC2 Describe* calls have no resource-level permissions, except DescribeVpcAttribute
    Call("ec2", "DescribeVpcs", "ec2:DescribeVpcs", "*"),
    Call("ec2", "DescribeVpcAttribute", "ec2:DescribeVpcAttribute", "arn:aws:ec2:{region}:*:vpc/*"),
    Call("ec2", "DescribeFlowLogs", "ec2:DescribeFlowLogs", "*"),
    Call("ec2", "DescribeLaunchTemplates", "ec2:DescribeLaunchTemplates", "*"),
    Call("ec2", "DescribeLaunchTemplateVersions", "ec2:DescribeLaunchTemplateVersions", "*"),
    Call("ec2", "DescribePlacementGroups", "ec2:DescribePlacementGroups", "*"),
    # STS GetCallerIdentity (the account the audit reads) needs no permission:
    # https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html
    Call("sts", "GetCallerIdentity", "", ""),
)

BY_OPERATION = {(c.service, c.operation): c for c in CALLS}


def policy_document(region: str | None = None) -> dict:
    """The identity policy that allows every call of `CALLS` and nothing else; one statement per resource
    pattern. With `region`, regional resources are limited to that region."""
    by_resource: dict[str, list[str]] = {}
    for call in CALLS:
        if call.action:
            resource = call.resource.format(region=region or "*")
            by_resource.setdefault(resource, [])
            if call.action not in by_resource[resource]:
                by_resource[resource].append(call.action)
    statements = [
        {
            "Sid": f"AuditRead{index}",
            "Effect": "Allow",
            "Action": sorted(actions),
            "Resource": resource,
        }
        for index, (resource, actions) in enumerate(sorted(by_resource.items()), start=1)
    ]
    return {"Version": "2012-10-17", "Statement": statements}


def policy_text(region: str | None = None) -> str:
    return json.dumps(policy_document(region), indent=2)
