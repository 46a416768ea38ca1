"""AWS rules: S3 data lakes, KMS keys, IAM, EKS, launch templates and instances, security groups."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from fnmatch import fnmatchcase
from typing import Any

from pulumi_policy import PolicyConfigSchema, ResourceValidationArgs, Severity

from .common import (
    ALLOWLIST_SCHEMA,
    CIS_AWS,
    CIS_EKS,
    UNKNOWN,
    WORLD,
    Control,
    StackResource,
    allowlisted,
    allows,
    checkov_control,
    get,
    is_false,
    is_true,
    items,
    not_true,
    number,
    policy_statements,
    principals,
    resource_rule,
    stack_rule,
    strings,
)
from .standards import eks

DOMAIN = "aws"
BUCKETS = ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")
KMS_KEY = "aws:kms/key:Key"
ROLE = "aws:iam/role:Role"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
LAUNCH_CONFIGURATION = "aws:ec2/launchConfiguration:LaunchConfiguration"
INSTANCE = "aws:ec2/instance:Instance"
EKS_CLUSTER = "aws:eks/cluster:Cluster"
EKS_ADDON = "aws:eks/addon:Addon"
IDENTITY_POLICIES = (
    "aws:iam/policy:Policy",
    "aws:iam/rolePolicy:RolePolicy",
    "aws:iam/userPolicy:UserPolicy",
    "aws:iam/groupPolicy:GroupPolicy",
)
ADMIN_PORTS = (22, 3389)


def _cis(reference: str, title: str, *checkov: str) -> Control:
    return Control(*CIS_AWS, reference, title, checkov)


# ---------------------------------------------------------------- S3 (stack-wide: a bucket and its
# companion resources — encryption, versioning, policy — are separate resources in pulumi-aws v7)


def _buckets(resources: list[StackResource]) -> list[StackResource]:
    return [r for r in resources if r.type in BUCKETS]


def _companions(resources: list[StackResource], bucket: StackResource, *types: str) -> list[StackResource]:
    """The resources of `types` configuring `bucket`: their `bucket` input was computed from it or names it."""
    names = {get(bucket.props, "bucket"), get(bucket.props, "id")} - {None, UNKNOWN}
    return [
        r for r in resources if r.type in types and (r.depends_on(bucket, "bucket") or get(r.props, "bucket") in names)
    ]


@stack_rule(
    name="aws-s3-sse-kms",
    description="S3 buckets encrypt objects by default with a KMS key (SSE-KMS), not with S3-managed keys.",
    severity=Severity.HIGH,
    remediation="Add an aws.s3.BucketServerSideEncryptionConfiguration for the bucket with "
    "sse_algorithm='aws:kms' and kms_master_key_id set to the lake's customer-managed key.",
    control=Control(
        *CIS_AWS, "2.1.1", "Ensure all S3 buckets employ encryption-at-rest (SSE-KMS)", ("CKV_AWS_145", "CKV_AWS_19")
    ),
    domain=DOMAIN,
)
def s3_sse_kms(resources: list[StackResource], _config: Mapping[str, Any]) -> Iterator[tuple[str | None, str]]:
    for bucket in _buckets(resources):
        rules = [get(bucket.props, "serverSideEncryptionConfiguration", "rule")]
        for config in _companions(
            resources,
            bucket,
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
            "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
        ):
            rules.extend(items(get(config.props, "rules")) or [get(config.props, "rules")])
        algorithms = [get(rule, "applyServerSideEncryptionByDefault", "sseAlgorithm") for rule in rules if rule]
        if UNKNOWN in algorithms:
            continue
        if not algorithms:
            yield bucket.urn, f"bucket {bucket.name} has no default encryption configuration, so S3 uses SSE-S3 keys"
        elif not any(a in ("aws:kms", "aws:kms:dsse") for a in algorithms):
            yield bucket.urn, f"bucket {bucket.name} encrypts with {', '.join(map(str, algorithms))}, not aws:kms"


PUBLIC_ACCESS_FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")


@stack_rule(
    name="aws-s3-public-access-block",
    description="S3 buckets have a public access block with all four settings on.",
    severity=Severity.CRITICAL,
    remediation="Add an aws.s3.BucketPublicAccessBlock for the bucket with block_public_acls, "
    "block_public_policy, ignore_public_acls and restrict_public_buckets all True.",
    control=_cis(
        "2.1.4",
        "Ensure that S3 Buckets are configured with 'Block public access (bucket settings)'",
        "CKV2_AWS_6",
        "CKV_AWS_53",
        "CKV_AWS_54",
        "CKV_AWS_55",
        "CKV_AWS_56",
    ),
    domain=DOMAIN,
)
def s3_public_access_block(
    resources: list[StackResource], _config: Mapping[str, Any]
) -> Iterator[tuple[str | None, str]]:
    for bucket in _buckets(resources):
        blocks = _companions(resources, bucket, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
        if not blocks:
            yield bucket.urn, f"bucket {bucket.name} has no public access block"
        for block in blocks:
            off = [flag for flag in PUBLIC_ACCESS_FLAGS if not_true(get(block.props, flag))]
            if off:
                yield bucket.urn, f"bucket {bucket.name}: public access block leaves {', '.join(off)} off"


def _denies_insecure_transport(statement: dict[str, Any]) -> bool:
    secure = get(statement, "Condition", "Bool", "aws:SecureTransport")
    return statement.get("Effect") == "Deny" and (is_false(secure) or secure == ["false"])


@stack_rule(
    name="aws-s3-tls-only",
    description="S3 bucket policies deny every request that does not use TLS (aws:SecureTransport false).",
    severity=Severity.HIGH,
    remediation="Add a bucket policy statement: Effect Deny, Principal '*', Action 's3:*', Resource the bucket "
    "and its objects, Condition {'Bool': {'aws:SecureTransport': 'false'}}.",
    control=_cis("2.1.1", "Ensure S3 Bucket Policy is set to deny HTTP requests"),
    domain=DOMAIN,
)
def s3_tls_only(resources: list[StackResource], _config: Mapping[str, Any]) -> Iterator[tuple[str | None, str]]:
    for bucket in _buckets(resources):
        documents = [get(bucket.props, "policy")]
        documents += [
            get(p.props, "policy") for p in _companions(resources, bucket, "aws:s3/bucketPolicy:BucketPolicy")
        ]
        if UNKNOWN in documents:
            continue
        statements = [s for document in documents if document for s in policy_statements(document)]
        if not any(_denies_insecure_transport(s) for s in statements):
            yield bucket.urn, f"bucket {bucket.name} has no policy statement denying requests without TLS"


@stack_rule(
    name="aws-s3-no-acls",
    description="S3 buckets disable ACLs (object ownership BucketOwnerEnforced) and grant access by policy only.",
    severity=Severity.MEDIUM,
    remediation="Add an aws.s3.BucketOwnershipControls with object_ownership='BucketOwnerEnforced' and remove "
    "BucketAcl resources and the bucket's acl/grants arguments; grant access with bucket or IAM policies.",
    control=checkov_control("CKV2_AWS_65", "Ensure access control lists for S3 buckets are disabled"),
    domain=DOMAIN,
)
def s3_no_acls(resources: list[StackResource], _config: Mapping[str, Any]) -> Iterator[tuple[str | None, str]]:
    for bucket in _buckets(resources):
        ownership = [
            get(c.props, "rule", "objectOwnership")
            for c in _companions(resources, bucket, "aws:s3/bucketOwnershipControls:BucketOwnershipControls")
        ]
        if UNKNOWN not in ownership and "BucketOwnerEnforced" not in ownership:
            found = f"object ownership {', '.join(map(str, ownership))}" if ownership else "no ownership controls"
            yield bucket.urn, f"bucket {bucket.name} keeps ACLs enabled ({found})"
        acls = _companions(resources, bucket, "aws:s3/bucketAcl:BucketAcl", "aws:s3/bucketAclV2:BucketAclV2")
        inline = get(bucket.props, "acl") not in (None, UNKNOWN, "private") or items(get(bucket.props, "grants"))
        if acls or inline:
            yield bucket.urn, f"bucket {bucket.name} grants access through ACLs"


@stack_rule(
    name="aws-s3-versioning",
    description="S3 buckets keep object versions, so overwritten or deleted training data can be recovered.",
    severity=Severity.MEDIUM,
    remediation="Add an aws.s3.BucketVersioning for the bucket with versioning_configuration status 'Enabled'.",
    control=checkov_control("CKV_AWS_21", "Ensure all data stored in the S3 bucket have versioning enabled"),
    domain=DOMAIN,
)
def s3_versioning(resources: list[StackResource], _config: Mapping[str, Any]) -> Iterator[tuple[str | None, str]]:
    for bucket in _buckets(resources):
        states = [get(bucket.props, "versioning", "enabled")]
        states += [
            get(v.props, "versioningConfiguration", "status")
            for v in _companions(resources, bucket, "aws:s3/bucketVersioning:BucketVersioning")
            + _companions(resources, bucket, "aws:s3/bucketVersioningV2:BucketVersioningV2")
        ]
        if UNKNOWN not in states and not any(is_true(s) or s == "Enabled" for s in states):
            yield bucket.urn, f"bucket {bucket.name} does not have versioning enabled"


# ---------------------------------------------------------------- KMS


@resource_rule(
    name="aws-kms-key-rotation",
    description="Symmetric KMS keys rotate their key material every year.",
    types=[KMS_KEY],
    severity=Severity.MEDIUM,
    remediation="Set enable_key_rotation=True on the aws.kms.Key.",
    control=_cis("3.6", "Ensure rotation for customer-created symmetric CMKs is enabled", "CKV_AWS_7"),
    domain=DOMAIN,
)
def kms_key_rotation(props: dict[str, Any], _args: ResourceValidationArgs) -> Iterator[str]:
    symmetric = get(props, "customerMasterKeySpec") in (None, "SYMMETRIC_DEFAULT")
    encrypts = get(props, "keyUsage") in (None, "ENCRYPT_DECRYPT")
    if symmetric and encrypts and not_true(get(props, "enableKeyRotation")):
        yield "key rotation is not enabled"


@resource_rule(
    name="aws-kms-no-wildcard-principal",
    description="KMS key policies name their principals; none allows everyone ('*').",
    types=[KMS_KEY, "aws:kms/keyPolicy:KeyPolicy"],
    severity=Severity.CRITICAL,
    remediation="Replace the '*' principal with the account root, roles or services that need the key.",
    control=checkov_control("CKV_AWS_33", "Ensure KMS key policy does not contain wildcard (*) principal"),
    domain=DOMAIN,
)
def kms_no_wildcard_principal(props: dict[str, Any], _args: ResourceValidationArgs) -> Iterator[str]:
    for statement in policy_statements(get(props, "policy")):
        if allows(statement) and "*" in principals(statement):
            yield f"statement {statement.get('Sid', '(no Sid)')} allows principal '*'"


# ---------------------------------------------------------------- IAM


def _identity_documents(resource_type: str, props: dict[str, Any]) -> list[Any]:
    if resource_type == ROLE:
        return [get(p, "policy") for p in items(get(props, "inlinePolicies"))]
    return [get(props, "policy")]


def _statements(resource_type: str, props: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for document in _identity_documents(resource_type, props):
        yield from (s for s in policy_statements(document) if allows(s))


@resource_rule(
    name="aws-iam-no-wildcard-actions",
    description="IAM policies allow named actions, never '*' or a whole service ('s3:*') or NotAction.",
    types=[*IDENTITY_POLICIES, ROLE],
    severity=Severity.HIGH,
    remediation="List the actions the identity needs (for lakes use DataLake.grant(), which scopes them).",
    control=_cis(
        "1.16",
        "Ensure IAM policies that allow full '*:*' administrative privileges are not attached",
        "CKV_AWS_1",
        "CKV_AWS_62",
        "CKV_AWS_63",
    ),
    domain=DOMAIN,
)
def iam_no_wildcard_actions(props: dict[str, Any], args: ResourceValidationArgs) -> Iterator[str]:
    for statement in _statements(args.resource_type, props):
        if "NotAction" in statement:
            yield "an Allow statement uses NotAction, which allows everything not listed"
        for action in strings(statement.get("Action")):
            if action == "*" or action.endswith(":*"):
                yield f"an Allow statement grants action {action!r}"


RESOURCE_WILDCARD_SCHEMA = PolicyConfigSchema(
    properties={
        "actionsWithoutResourceScope": {
            "type": "array",
            "items": {"type": "string"},
            "description": "Actions (globs) AWS grants only on Resource '*' because they have no resource-level "
            "permissions; statements made only of these may use '*'.",
            "default": ["ec2:Describe*", "autoscaling:Describe*", "ecr:GetAuthorizationToken", "sts:GetCallerIdentity"],
        }
    }
)


@resource_rule(
    name="aws-iam-no-wildcard-resources",
    description="IAM policies allow actions on named resources, not on Resource '*'.",
    types=[*IDENTITY_POLICIES, ROLE],
    severity=Severity.HIGH,
    remediation="Scope Resource to the ARNs the identity needs; only actions without resource-level permissions "
    "(see actionsWithoutResourceScope) may use '*'.",
    control=checkov_control(
        "CKV_AWS_355", "Ensure no IAM policies documents allow '*' as a statement's resource for restrictable actions"
    ),
    domain=DOMAIN,
    config_schema=RESOURCE_WILDCARD_SCHEMA,
)
def iam_no_wildcard_resources(props: dict[str, Any], args: ResourceValidationArgs) -> Iterator[str]:
    unscoped = args.get_config().get("actionsWithoutResourceScope") or []
    for statement in _statements(args.resource_type, props):
        if "NotResource" in statement:
            yield "an Allow statement uses NotResource, which allows every resource not listed"
        actions = strings(statement.get("Action"))
        if "*" in strings(statement.get("Resource")) and not all(
            any(fnmatchcase(a, pattern) for pattern in unscoped) for a in actions
        ):
            yield f"an Allow statement grants {', '.join(actions) or 'its actions'} on Resource '*'"


ADMIN_POLICY_SUFFIX = ":policy/AdministratorAccess"


@resource_rule(
    name="aws-iam-no-admin-attachments",
    description="No role, user or group has the AWS-managed AdministratorAccess policy.",
    types=[
        ROLE,
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        "aws:iam/userPolicyAttachment:UserPolicyAttachment",
        "aws:iam/groupPolicyAttachment:GroupPolicyAttachment",
        "aws:iam/policyAttachment:PolicyAttachment",
    ],
    severity=Severity.CRITICAL,
    remediation="Attach a policy with the actions the identity needs instead of AdministratorAccess.",
    control=_cis(
        "1.16", "Ensure IAM policies that allow full '*:*' administrative privileges are not attached", "CKV_AWS_274"
    ),
    domain=DOMAIN,
)
def iam_no_admin_attachments(props: dict[str, Any], _args: ResourceValidationArgs) -> Iterator[str]:
    arns = [get(props, "policyArn"), *items(get(props, "managedPolicyArns"))]
    for arn in arns:
        if isinstance(arn, str) and arn.endswith(ADMIN_POLICY_SUFFIX):
            yield f"attaches {arn}"


def _trust_statements(props: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in policy_statements(get(props, "assumeRolePolicy")) if allows(s)]


@resource_rule(
    name="aws-iam-trust-no-wildcard-principal",
    description="Role trust policies name who may assume the role; none trusts everyone ('*').",
    types=[ROLE],
    severity=Severity.CRITICAL,
    remediation="Name the service, account or OIDC provider that assumes the role in the trust policy's Principal.",
    control=checkov_control("CKV_AWS_60", "Ensure IAM role allows only specific services or principals to assume it"),
    domain=DOMAIN,
)
def iam_trust_no_wildcard_principal(props: dict[str, Any], _args: ResourceValidationArgs) -> Iterator[str]:
    for statement in _trust_statements(props):
        if "*" in principals(statement):
            yield "the trust policy allows principal '*' to assume the role"


WEB_IDENTITY = "sts:AssumeRoleWithWebIdentity"


def _sub_values(condition: Any) -> list[Any]:
    """Values of every `...:sub` key under StringEquals/StringLike (also ForAnyValue: forms)."""
    return [
        value
        for operator, clauses in (condition.items() if isinstance(condition, dict) else [])
        if operator.split(":")[-1] in ("StringEquals", "StringLike") and isinstance(clauses, dict)
        for key, value in clauses.items()
        if key.endswith(":sub")
    ]


@resource_rule(
    name="aws-iam-web-identity-sub-condition",
    description="Roles assumed with web identity (IRSA, CI OIDC) restrict the token subject with a ':sub' condition.",
    types=[ROLE],
    severity=Severity.CRITICAL,
    remediation="Add Condition StringEquals '<issuer>:sub': 'system:serviceaccount:<namespace>:<name>' (or the "
    "CI repository's subject) to the sts:AssumeRoleWithWebIdentity statement.",
    control=checkov_control(
        "CKV_AWS_358", "Ensure AWS GitHub Actions OIDC authorization policies only allow safe claims and claim order"
    ),
    domain=DOMAIN,
)
def iam_web_identity_sub_condition(props: dict[str, Any], _args: ResourceValidationArgs) -> Iterator[str]:
    for statement in _trust_statements(props):
        if WEB_IDENTITY not in strings(statement.get("Action")):
            continue
        condition = statement.get("Condition")
        if condition is UNKNOWN:
            continue
        values = [v for value in _sub_values(condition) for v in ([value] if value is UNKNOWN else strings(value))]
        if not values:
            yield "the web identity statement has no ':sub' condition, so any workload of the issuer may assume it"
        elif UNKNOWN not in values and all(v.strip("*") == "" for v in values):
            yield "the web identity statement's ':sub' condition matches every subject"


# ---------------------------------------------------------------- EKS


@resource_rule(
    name="aws-eks-secrets-encryption",
    description="EKS clusters encrypt Kubernetes secrets with a customer-managed KMS key (envelope encryption).",
    types=[EKS_CLUSTER],
    severity=Severity.HIGH,
    remediation="Set encryption_config with resources=['secrets'] and provider.key_arn of a KMS key with rotation.",
    control=Control(
        *CIS_EKS,
        "5.3.1",
        "Ensure Kubernetes Secrets are encrypted using Customer Master Keys (CMKs) managed in AWS KMS",
        ("CKV_AWS_58",),
    ),
    domain=DOMAIN,
)
def eks_secrets_encryption(props: dict[str, Any], _args: ResourceValidationArgs) -> Iterator[str]:
    config = get(props, "encryptionConfig")
    if config is UNKNOWN:
        return
    configs = items(config) if isinstance(config, list) else [config] if config else []
    if any(get(c, "resources") is UNKNOWN for c in configs):
        return
    resources = [r for c in configs for r in strings(get(c, "resources"))]
    if "secrets" not in resources:
        yield "Kubernetes secrets are not envelope-encrypted with a KMS key"
    elif any(get(c, "provider", "keyArn") in (None, "") for c in configs):
        yield "the secrets encryption config names no KMS key ARN"


@resource_rule(
    name="aws-eks-private-endpoint",
    description="The EKS API endpoint is private, or public only to an allowlist of CIDRs (never 0.0.0.0/0).",
    types=[EKS_CLUSTER],
    severity=Severity.HIGH,
    remediation="Set vpc_config endpoint_public_access=False and endpoint_private_access=True, or list the "
    "operator CIDRs in public_access_cidrs.",
    control=Control(
        *CIS_EKS,
        "5.4.2",
        "Ensure clusters are created with Private Endpoint Enabled and Public Access Disabled",
        ("CKV_AWS_38", "CKV_AWS_39"),
    ),
    domain=DOMAIN,
    standards=(eks("5.4.1"),),
)
def eks_private_endpoint(props: dict[str, Any], _args: ResourceValidationArgs) -> Iterator[str]:
    public = get(props, "vpcConfig", "endpointPublicAccess")
    if public is UNKNOWN or is_false(public):
        return
    cidrs = get(props, "vpcConfig", "publicAccessCidrs")
    if cidrs is UNKNOWN or UNKNOWN in (cidrs or []):
        return
    if not cidrs or any(c in WORLD for c in strings(cidrs)):
        yield "the public API endpoint is open to 0.0.0.0/0"


LOG_TYPES_SCHEMA = PolicyConfigSchema(
    properties={
        "requiredLogTypes": {
            "type": "array",
            "items": {"enum": ["api", "audit", "authenticator", "controllerManager", "scheduler"]},
            "default": ["api", "audit", "authenticator"],
        }
    }
)


@resource_rule(
    name="aws-eks-control-plane-logs",
    description="EKS clusters send the API server, audit and authenticator logs to CloudWatch.",
    types=[EKS_CLUSTER],
    severity=Severity.MEDIUM,
    remediation="Add the missing types to enabled_cluster_log_types.",
    control=Control(*CIS_EKS, "2.1.1", "Enable audit Logs", ("CKV_AWS_37",)),
    domain=DOMAIN,
    config_schema=LOG_TYPES_SCHEMA,
)
def eks_control_plane_logs(props: dict[str, Any], args: ResourceValidationArgs) -> Iterator[str]:
    enabled = get(props, "enabledClusterLogTypes")
    if enabled is UNKNOWN:
        return
    required = args.get_config().get("requiredLogTypes") or []
    missing = [t for t in required if t not in strings(enabled)]
    if missing:
        yield f"control plane log types {', '.join(missing)} are not enabled"


def _enforces_network_policy(addon: StackResource) -> bool | None:
    """Whether a vpc-cni add-on's configuration turns its network policy agent on (None: unknown)."""
    values = get(addon.props, "configurationValues")
    if values is UNKNOWN:
        return None
    try:
        config = json.loads(values) if isinstance(values, str) else {}
    except ValueError:
        return False
    return isinstance(config, dict) and is_true(config.get("enableNetworkPolicy"))


@stack_rule(
    name="aws-eks-network-policy",
    description="EKS clusters enforce Kubernetes NetworkPolicy: the managed vpc-cni add-on runs with "
    "enableNetworkPolicy, without which the VPC CNI accepts NetworkPolicy objects and enforces none.",
    severity=Severity.HIGH,
    remediation="Add the vpc-cni aws.eks.Addon for the cluster with configuration_values "
    '\'{"enableNetworkPolicy": "true"}\' (VPC CNI 1.14 or later); a cluster that enforces policy with '
    "another CNI goes on this rule's allowlist (workload: the cluster's name) with its reason.",
    control=eks("5.4.4"),
    domain=DOMAIN,
    config_schema=ALLOWLIST_SCHEMA,
)
def eks_network_policy(resources: list[StackResource], config: Mapping[str, Any]) -> Iterator[tuple[str | None, str]]:
    addons = [r for r in resources if r.type == EKS_ADDON and get(r.props, "addonName") == "vpc-cni"]
    for cluster in (r for r in resources if r.type == EKS_CLUSTER):
        name = get(cluster.props, "name")
        if allowlisted(config, str(name if isinstance(name, str) else cluster.name)):
            continue
        own = [a for a in addons if a.depends_on(cluster, "clusterName") or get(a.props, "clusterName") == name]
        enforcing = [_enforces_network_policy(a) for a in own]
        if None in enforcing:
            continue
        if not own:
            yield cluster.urn, f"cluster {cluster.name} has no managed vpc-cni add-on, so no NetworkPolicy is enforced"
        elif not any(enforcing):
            yield cluster.urn, f"cluster {cluster.name}'s vpc-cni add-on does not enable network policy"


# ---------------------------------------------------------------- EC2: launch templates, instances, networks


@resource_rule(
    name="aws-ec2-imdsv2",
    description="Launch templates and instances require IMDSv2 session tokens (http_tokens 'required').",
    types=[LAUNCH_TEMPLATE, LAUNCH_CONFIGURATION, INSTANCE],
    severity=Severity.HIGH,
    remediation="Set metadata_options http_tokens='required' (and http_put_response_hop_limit=2 for pods).",
    control=_cis("5.6", "Ensure that EC2 Metadata Service only allows IMDSv2", "CKV_AWS_79"),
    domain=DOMAIN,
)
def ec2_imdsv2(props: dict[str, Any], args: ResourceValidationArgs) -> Iterator[str]:
    if args.resource_type == INSTANCE and get(props, "launchTemplate") is not None:
        return  # the launch template's own metadata options apply, and this rule checks them there
    tokens = get(props, "metadataOptions", "httpTokens")
    endpoint = get(props, "metadataOptions", "httpEndpoint")
    if tokens not in ("required", UNKNOWN) and endpoint not in ("disabled", UNKNOWN):
        yield f"the instance metadata service accepts IMDSv1 (http_tokens {tokens or 'unset'})"


def _volumes(resource_type: str, props: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """(device, settings) of every EBS volume a launch template, instance or volume declares."""
    if resource_type == LAUNCH_TEMPLATE:
        for mapping in items(get(props, "blockDeviceMappings")):
            if get(mapping, "ebs") is not None:
                yield str(get(mapping, "deviceName") or "volume"), get(mapping, "ebs")
    elif resource_type == "aws:ebs/volume:Volume":
        yield "volume", props
    else:
        if get(props, "rootBlockDevice") is not None:
            yield "root volume", get(props, "rootBlockDevice")
        for device in items(get(props, "ebsBlockDevices")):
            yield str(get(device, "deviceName") or "volume"), device


@resource_rule(
    name="aws-ebs-encrypted",
    description="EBS volumes of launch templates, instances and standalone volumes are encrypted.",
    types=[LAUNCH_TEMPLATE, LAUNCH_CONFIGURATION, INSTANCE, "aws:ebs/volume:Volume"],
    severity=Severity.HIGH,
    remediation="Set encrypted=True (with kms_key_id for a customer-managed key) on every EBS volume.",
    control=_cis("2.2.1", "Ensure EBS volume encryption is enabled in all regions", "CKV_AWS_3", "CKV_AWS_8"),
    domain=DOMAIN,
)
def ebs_encrypted(props: dict[str, Any], args: ResourceValidationArgs) -> Iterator[str]:
    for device, volume in _volumes(args.resource_type, props):
        if volume is not UNKNOWN and not_true(get(volume, "encrypted")):
            yield f"EBS {device} is not encrypted"


@resource_rule(
    name="aws-no-public-ip",
    description="Nodes and instances get no public IP address; subnets do not hand them out on launch.",
    types=[LAUNCH_TEMPLATE, LAUNCH_CONFIGURATION, INSTANCE, "aws:ec2/subnet:Subnet"],
    severity=Severity.HIGH,
    remediation="Set associate_public_ip_address=False (map_public_ip_on_launch=False on subnets) and reach "
    "nodes through the VPC, SSM or a load balancer.",
    control=checkov_control("CKV_AWS_88", "EC2 instance should not have public IP."),
    domain=DOMAIN,
    standards=(eks("5.4.3"),),
)
def no_public_ip(props: dict[str, Any], _args: ResourceValidationArgs) -> Iterator[str]:
    flags = [get(props, "associatePublicIpAddress"), get(props, "mapPublicIpOnLaunch")]
    flags += [get(nic, "associatePublicIpAddress") for nic in items(get(props, "networkInterfaces"))]
    if any(is_true(flag) for flag in flags):
        yield "assigns public IP addresses"


def _world_ingress(props: dict[str, Any], resource_type: str) -> Iterator[tuple[str, Any, Any, Any]]:
    """(cidr, protocol, from, to) of each ingress rule open to the whole internet."""
    if resource_type == "aws:ec2/securityGroup:SecurityGroup":
        rules = [
            (r, "protocol", [*strings(get(r, "cidrBlocks")), *strings(get(r, "ipv6CidrBlocks"))])
            for r in items(get(props, "ingress"))
        ]
    elif resource_type == "aws:ec2/securityGroupRule:SecurityGroupRule":
        if get(props, "type") != "ingress":
            return
        rules = [(props, "protocol", [*strings(get(props, "cidrBlocks")), *strings(get(props, "ipv6CidrBlocks"))])]
    else:
        rules = [(props, "ipProtocol", [*strings(get(props, "cidrIpv4")), *strings(get(props, "cidrIpv6"))])]
    for rule, protocol_key, cidrs in rules:
        for cidr in cidrs:
            if cidr in WORLD:
                yield cidr, get(rule, protocol_key), number(get(rule, "fromPort")), number(get(rule, "toPort"))


@resource_rule(
    name="aws-sg-no-world-admin-ingress",
    description="Security groups allow no ingress from 0.0.0.0/0 or ::/0 to SSH (22), RDP (3389) or all ports.",
    types=[
        "aws:ec2/securityGroup:SecurityGroup",
        "aws:ec2/securityGroupRule:SecurityGroupRule",
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
    ],
    severity=Severity.CRITICAL,
    remediation="Restrict the source to the VPC or operator CIDRs, or use SSM Session Manager instead of SSH/RDP.",
    control=_cis(
        "5.2",
        "Ensure no security groups allow ingress from 0.0.0.0/0 to remote server administration ports",
        "CKV_AWS_24",
        "CKV_AWS_25",
        "CKV_AWS_277",
    ),
    domain=DOMAIN,
)
def sg_no_world_admin_ingress(props: dict[str, Any], args: ResourceValidationArgs) -> Iterator[str]:
    for cidr, protocol, low, high in _world_ingress(props, args.resource_type):
        if str(protocol) in ("-1", "-1.0", "all"):
            yield f"allows all traffic from {cidr}"
        elif str(protocol).lower() in ("tcp", "6") and low is not None and high is not None:
            for port in ADMIN_PORTS:
                if low <= port <= high:
                    yield f"allows port {port} from {cidr}"


ECR_REPOSITORY = "aws:ecr/repository:Repository"


@resource_rule(
    name="aws-ecr-immutable-tags",
    description="ECR repositories refuse to overwrite a tag, so a tag names one image for good.",
    types=[ECR_REPOSITORY],
    severity=Severity.MEDIUM,
    remediation="Set image_tag_mutability='IMMUTABLE' (or IMMUTABLE_WITH_EXCLUSION for a build-cache tag); "
    "ImageRegistry does.",
    control=checkov_control("CKV_AWS_51", "Ensure ECR Image Tags are immutable"),
    domain=DOMAIN,
)
def ecr_immutable_tags(props: dict[str, Any], _args: ResourceValidationArgs) -> Iterator[str]:
    mutability = get(props, "imageTagMutability")
    if mutability is not UNKNOWN and mutability not in ("IMMUTABLE", "IMMUTABLE_WITH_EXCLUSION"):
        yield f"image tags are {mutability or 'MUTABLE'}: a push can replace what a tag names"


@resource_rule(
    name="aws-ecr-scan-on-push",
    description="ECR repositories scan every image for vulnerabilities when it is pushed.",
    types=[ECR_REPOSITORY],
    severity=Severity.MEDIUM,
    remediation="Set image_scanning_configuration={'scan_on_push': True}; ImageRegistry does.",
    control=checkov_control("CKV_AWS_163", "Ensure ECR image scanning on push is enabled"),
    domain=DOMAIN,
    standards=(eks("5.1.1"),),
)
def ecr_scan_on_push(props: dict[str, Any], _args: ResourceValidationArgs) -> Iterator[str]:
    if not_true(get(props, "imageScanningConfiguration", "scanOnPush")):
        yield "images are not scanned on push"


@resource_rule(
    name="aws-ecr-kms",
    description="ECR repositories encrypt images with a KMS key, not only with ECR's AES-256 default.",
    types=[ECR_REPOSITORY],
    severity=Severity.MEDIUM,
    remediation="Set encryption_configurations=[{'encryption_type': 'KMS', 'kms_key': key.arn}]; ImageRegistry "
    "does, with a key of its own.",
    control=checkov_control("CKV_AWS_136", "Ensure that ECR repositories are encrypted using KMS"),
    domain=DOMAIN,
)
def ecr_kms(props: dict[str, Any], _args: ResourceValidationArgs) -> Iterator[str]:
    encryption = get(props, "encryptionConfigurations", 0, "encryptionType")
    if encryption is not UNKNOWN and encryption != "KMS":
        yield f"images are encrypted with {encryption or 'AES256 (the default)'}, not a KMS key"


POLICIES = [
    s3_sse_kms,
    s3_public_access_block,
    s3_tls_only,
    s3_no_acls,
    s3_versioning,
    kms_key_rotation,
    kms_no_wildcard_principal,
    iam_no_wildcard_actions,
    iam_no_wildcard_resources,
    iam_no_admin_attachments,
    iam_trust_no_wildcard_principal,
    iam_web_identity_sub_condition,
    eks_secrets_encryption,
    eks_private_endpoint,
    eks_control_plane_logs,
    eks_network_policy,
    ec2_imdsv2,
    ebs_encrypted,
    no_public_ip,
    sg_no_world_admin_ingress,
    ecr_immutable_tags,
    ecr_scan_on_push,
    ecr_kms,
]
