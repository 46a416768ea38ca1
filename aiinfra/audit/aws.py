"""Read the live AWS resources an aiinfra stack deploys, with boto3, into the property shape the plan records for
the same Pulumi type (pulumi-aws v7 names, camelCase), so drift and the policy pack see one vocabulary.

Read-only: every call is a List/Describe/Get listed in `permissions.CALLS`; the reader refuses anything else.
Retries are botocore's (`Config(retries={"mode": "adaptive"})`, or AWS_RETRY_MODE=standard; AWS_MAX_ATTEMPTS
sets the attempts, default 8): https://boto3.amazonaws.com/v1/documentation/api/latest/guide/retries.html.
A call that still fails for credentials, permissions or throttling raises CloudUnreadable; an API the endpoint
does not implement (an emulator such as moto) becomes a NotChecked line instead of a crash.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import botocore.exceptions
import botocore.parsers
from botocore.config import Config

from aiinfra.audit.errors import CloudUnreadable
from aiinfra.audit.permissions import BY_OPERATION

DEFAULT_MAX_ATTEMPTS = 8
RETRY_MODES = ("adaptive", "standard")

BUCKET = "aws:s3/bucket:Bucket"
BUCKET_ENCRYPTION = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
BUCKET_PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
BUCKET_VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
BUCKET_OWNERSHIP = "aws:s3/bucketOwnershipControls:BucketOwnershipControls"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
KMS_KEY = "aws:kms/key:Key"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ROLE_POLICY_ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
EKS_CLUSTER = "aws:eks/cluster:Cluster"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
ADDON = "aws:eks/addon:Addon"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
PLACEMENT_GROUP = "aws:ec2/placementGroup:PlacementGroup"
VPC = "aws:ec2/vpc:Vpc"
FLOW_LOG = "aws:ec2/flowLog:FlowLog"

BUCKET_COMPANIONS = (BUCKET_ENCRYPTION, BUCKET_PUBLIC_ACCESS_BLOCK, BUCKET_VERSIONING, BUCKET_OWNERSHIP, BUCKET_POLICY)
AUDITED_TYPES = (
    BUCKET,
    *BUCKET_COMPANIONS,
    KMS_KEY,
    ROLE,
    ROLE_POLICY,
    ROLE_POLICY_ATTACHMENT,
    EKS_CLUSTER,
    NODE_GROUP,
    ADDON,
    LAUNCH_TEMPLATE,
    PLACEMENT_GROUP,
    VPC,
    FLOW_LOG,
)
"""The Pulumi types the audit reads; the plan's other resources (subnets, routes, security groups, Kubernetes
objects) are not compared."""

THROTTLING = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "SlowDown",
        "EC2ThrottledException",
        "BandwidthLimitExceeded",
        "PriorRequestNotComplete",
    }
)
DENIED = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "UnauthorizedException",
        "AuthorizationError",
        "AuthFailure",
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "IncompleteSignature",
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidToken",
    }
)
UNSUPPORTED = frozenset({"NotImplemented", "InvalidAction", "UnknownOperationException", "UnknownOperation", "404"})
"""Error codes of an endpoint that does not have the API at all (a generic 404 has code '404')."""


@dataclass
class Live:
    """One live resource in the plan's shape."""

    type: str
    region: str | None
    """None for global resources (IAM)."""
    name: str
    """Its physical name or id, as a person finds it in the console."""
    props: dict[str, Any]
    tags: dict[str, str] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)
    """Identifiers keyed as the plan's outputs key them (id, arn, name, bucket, keyId, nodeGroupName)."""
    parent: str | None = None
    """The physical name of what it belongs to: the bucket, role or cluster."""
    aliases: tuple[str, ...] = ()
    """KMS keys: their alias names."""
    unreported: tuple[str, ...] = ()
    """Properties the endpoint did not return at all (compared nowhere, listed as not checked)."""


@dataclass(frozen=True)
class NotChecked:
    what: str
    why: str

    def __str__(self) -> str:
        return f"{self.what}: not checked — {self.why}"


class Unsupported(Exception):
    """The endpoint does not implement an API the audit calls."""


def retry_config() -> Config:
    """botocore's retry modes: adaptive (client-side rate limiting on top of standard) unless AWS_RETRY_MODE says
    standard; AWS_MAX_ATTEMPTS total attempts if set (botocore reads it), else DEFAULT_MAX_ATTEMPTS."""
    mode = os.environ.get("AWS_RETRY_MODE", "adaptive")
    retries: dict[str, Any] = {"mode": mode if mode in RETRY_MODES else "adaptive"}
    if not os.environ.get("AWS_MAX_ATTEMPTS"):
        retries["total_max_attempts"] = DEFAULT_MAX_ATTEMPTS
    return Config(retries=retries)  # pyright: ignore[reportArgumentType]  # botocore's stub wants a TypedDict


def _tag_dict(tags: Any, key: str = "Key", value: str = "Value") -> dict[str, str]:
    if isinstance(tags, dict):
        return {str(k): str(v) for k, v in tags.items()}
    return {str(t[key]): str(t.get(value, "")) for t in tags or []}


def _document(value: Any) -> str | None:
    """A policy document as JSON text (IAM returns it decoded, S3 and KMS as text)."""
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value)


def _flag(value: Any) -> str | None:
    """pulumi-aws keeps several launch template booleans as strings ("true"/"false")."""
    return None if value is None else str(bool(value)).lower()


def _camel(name: str) -> str:
    return name[:1].lower() + name[1:]


class Reader:
    """boto3 clients for one account, with the audit's retry config and error handling."""

    def __init__(self, session: boto3.Session, endpoint_url: str | None):
        self._session = session
        self._endpoint_url = endpoint_url
        self._config = retry_config()
        self._clients: dict[tuple[str, str | None], Any] = {}

    def _client(self, service: str, region: str | None) -> Any:
        key = (service, region)
        if key not in self._clients:
            self._clients[key] = self._session.client(
                service,  # pyright: ignore[reportArgumentType]  # the stubs take literal service names
                region_name=region or "us-east-1",
                endpoint_url=self._endpoint_url,
                config=self._config,
            )
        return self._clients[key]

    def call(
        self, service: str, region: str | None, operation: str, *, absent: tuple[str, ...] = (), **kwargs: Any
    ) -> dict[str, Any] | None:
        """One read call; None when it answers with one of the `absent` error codes (nothing configured)."""
        return next(self._run(service, region, operation, None, absent, kwargs))

    def pages(self, service: str, region: str | None, operation: str, key: str, **kwargs: Any) -> list[Any]:
        """Every item under `key` of every page of a paginated read call."""
        items: list[Any] = []
        for page in self._run(service, region, operation, key, (), kwargs):
            items += (page or {}).get(key, [])
        return items

    def _run(
        self,
        service: str,
        region: str | None,
        operation: str,
        paginate_key: str | None,
        absent: tuple[str, ...],
        kwargs: dict[str, Any],
    ) -> Iterator[dict[str, Any] | None]:
        if (service, operation) not in BY_OPERATION:
            raise AssertionError(f"{service}:{operation} is not in aiinfra.audit.permissions.CALLS")
        client = self._client(service, region)
        method = re.sub(r"(?<!^)(?=[A-Z])", "_", operation).lower()
        try:
            if paginate_key is not None and client.can_paginate(method):
                yield from client.get_paginator(method).paginate(**kwargs)
            else:
                yield getattr(client, method)(**kwargs)
        except botocore.exceptions.ClientError as err:
            code = str(err.response.get("Error", {}).get("Code", ""))
            if code in absent:
                yield None
                return
            raise _classify(err, service, operation, region) from None
        except botocore.parsers.ResponseParserError:
            # An emulator answers an API it lacks with an HTML error page (moto: HTTP 500 "not implemented").
            raise Unsupported(f"{service}:{operation}") from None
        except botocore.exceptions.NoCredentialsError:
            raise CloudUnreadable(
                "no AWS credentials found (environment, ~/.aws, SSO or instance role); "
                "configure them, e.g. `aws configure` or AWS_PROFILE, then rerun"
            ) from None
        except (botocore.exceptions.EndpointConnectionError, botocore.exceptions.ConnectTimeoutError) as err:
            raise CloudUnreadable(f"cannot reach AWS for {service}:{operation}: {err}") from None
        except botocore.exceptions.BotoCoreError as err:
            raise CloudUnreadable(f"{service}:{operation} failed: {err}") from None


def _classify(err: botocore.exceptions.ClientError, service: str, operation: str, region: str | None) -> Exception:
    error = dict(err.response.get("Error", {}))
    code = str(error.get("Code", ""))
    if code.isdigit():  # a body the client could not parse (an XML error to a JSON API): botocore's code is the status
        body = str(error.get("Message", ""))
        found = re.search(r"<Code>([^<]+)</Code>", body)
        code = found.group(1) if found else code
        message = re.search(r"<Message>([^<]*)</Message>", body)
        error["Message"] = message.group(1) if message else ("" if found else body[:200])
    status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    attempts = int(err.response.get("ResponseMetadata", {}).get("RetryAttempts", 0)) + 1
    where = f"{service}:{operation}" + (f" in {region}" if region and service != "iam" else "")
    if code in UNSUPPORTED or (status == 404 and not error.get("Message")):
        return Unsupported(f"{service}:{operation}")
    if code in THROTTLING:
        return CloudUnreadable(
            f"{where} was throttled ({code}) after {attempts} attempts with backoff; rerun later, or allow more "
            "attempts with AWS_MAX_ATTEMPTS"
        )
    if code in DENIED or code == "403":
        action = BY_OPERATION[(service, operation)].action
        reason = f"{code}: {error.get('Message', '')}".rstrip(": ")
        return CloudUnreadable(
            f"{where} was refused ({reason}); the audit needs {action or 'credentials'} — "
            "`aiinfra audit --print-policy` prints the read-only policy to attach"
        )
    return CloudUnreadable(f"{where} failed ({code or status}): {error.get('Message', '')}")


# ------------------------------------------------------------------ the account


def account_id(reader: Reader) -> str:
    answer = reader.call("sts", None, "GetCallerIdentity") or {}
    return str(answer.get("Account", ""))


# ------------------------------------------------------------------ S3


def bucket_region(location: dict[str, Any] | None) -> str:
    """GetBucketLocation's answer as a region (us-east-1 answers null; 'EU' is eu-west-1)."""
    constraint = (location or {}).get("LocationConstraint") or "us-east-1"
    return "eu-west-1" if constraint == "EU" else str(constraint)


def buckets(reader: Reader, regions: set[str]) -> list[Live]:
    found = []
    for bucket in reader.pages("s3", None, "ListBuckets", "Buckets"):
        name = bucket["Name"]
        region = bucket_region(reader.call("s3", None, "GetBucketLocation", Bucket=name))
        if region not in regions:
            continue
        tagging = reader.call("s3", region, "GetBucketTagging", absent=("NoSuchTagSet",), Bucket=name) or {}
        acl = reader.call("s3", region, "GetBucketAcl", Bucket=name) or {}
        owner = (acl.get("Owner") or {}).get("ID")
        grants: dict[tuple[str, str], list[str]] = {}
        for grant in acl.get("Grants", []):
            grantee = grant.get("Grantee", {})
            if grantee.get("Type") == "CanonicalUser" and grantee.get("ID") == owner:
                continue  # the owner's own FULL_CONTROL is what "no ACLs" leaves
            who = (grantee.get("Type", ""), grantee.get("URI") or grantee.get("ID") or grantee.get("EmailAddress", ""))
            grants.setdefault(who, []).append(grant.get("Permission", ""))
        tags = _tag_dict(tagging.get("TagSet"))
        props = {
            "bucket": name,
            "tags": tags,
            "grants": [
                {"type": kind, ("uri" if kind == "Group" else "id"): who, "permissions": sorted(perms)}
                for (kind, who), perms in sorted(grants.items())
            ],
        }
        found.append(
            Live(BUCKET, region, name, props, tags, {"id": name, "bucket": name, "arn": f"arn:aws:s3:::{name}"})
        )
    return found


def bucket_settings(reader: Reader, bucket: Live) -> list[Live]:
    """The bucket's encryption, public access block, versioning, ownership controls and policy, each as the
    separate resource pulumi-aws v7 makes of it; a setting that is not configured is no resource."""
    name, region = bucket.name, bucket.region
    found = []

    def add(type_: str, props: dict[str, Any]) -> None:
        found.append(Live(type_, region, name, {"bucket": name, **props}, {}, {"id": name}, parent=name))

    encryption = reader.call(
        "s3", region, "GetBucketEncryption", absent=("ServerSideEncryptionConfigurationNotFoundError",), Bucket=name
    )
    if encryption is not None:
        rules = []
        for rule in encryption.get("ServerSideEncryptionConfiguration", {}).get("Rules", []):
            default = rule.get("ApplyServerSideEncryptionByDefault", {})
            entry: dict[str, Any] = {
                "applyServerSideEncryptionByDefault": {"sseAlgorithm": default.get("SSEAlgorithm")}
            }
            if default.get("KMSMasterKeyID"):
                entry["applyServerSideEncryptionByDefault"]["kmsMasterKeyId"] = default["KMSMasterKeyID"]
            if "BucketKeyEnabled" in rule:
                entry["bucketKeyEnabled"] = bool(rule["BucketKeyEnabled"])
            rules.append(entry)
        add(BUCKET_ENCRYPTION, {"rules": rules})
    block = reader.call(
        "s3", region, "GetPublicAccessBlock", absent=("NoSuchPublicAccessBlockConfiguration",), Bucket=name
    )
    if block is not None:
        config = block.get("PublicAccessBlockConfiguration", {})
        add(BUCKET_PUBLIC_ACCESS_BLOCK, {_camel(k): bool(v) for k, v in config.items()})
    versioning = reader.call("s3", region, "GetBucketVersioning", Bucket=name) or {}
    if versioning.get("Status"):  # a bucket never versioned answers without a status
        add(BUCKET_VERSIONING, {"versioningConfiguration": {"status": versioning["Status"]}})
    ownership = reader.call(
        "s3", region, "GetBucketOwnershipControls", absent=("OwnershipControlsNotFoundError",), Bucket=name
    )
    if ownership is not None:
        rules = ownership.get("OwnershipControls", {}).get("Rules", [])
        add(BUCKET_OWNERSHIP, {"rule": {"objectOwnership": rules[0].get("ObjectOwnership") if rules else None}})
    policy = reader.call("s3", region, "GetBucketPolicy", absent=("NoSuchBucketPolicy",), Bucket=name)
    if policy is not None:
        add(BUCKET_POLICY, {"policy": _document(policy.get("Policy"))})
    return found


# ------------------------------------------------------------------ KMS


def keys(reader: Reader, region: str) -> list[Live]:
    """Customer-managed keys (AWS-managed ones are AWS's), with their aliases, rotation, policy and tags."""
    aliases: dict[str, list[str]] = {}
    for alias in reader.pages("kms", region, "ListAliases", "Aliases"):
        if alias.get("TargetKeyId"):
            aliases.setdefault(alias["TargetKeyId"], []).append(alias["AliasName"])
    found = []
    for listed in reader.pages("kms", region, "ListKeys", "Keys"):
        meta = (reader.call("kms", region, "DescribeKey", KeyId=listed["KeyId"]) or {}).get("KeyMetadata", {})
        if meta.get("KeyManager") != "CUSTOMER" or meta.get("KeyState") == "PendingDeletion":
            continue
        key_id = meta["KeyId"]
        symmetric = meta.get("KeySpec", meta.get("CustomerMasterKeySpec")) == "SYMMETRIC_DEFAULT"
        rotation = (reader.call("kms", region, "GetKeyRotationStatus", KeyId=key_id) or {} if symmetric else {}).get(
            "KeyRotationEnabled", False
        )
        policy = reader.call("kms", region, "GetKeyPolicy", KeyId=key_id, PolicyName="default") or {}
        tags = _tag_dict(reader.pages("kms", region, "ListResourceTags", "Tags", KeyId=key_id), "TagKey", "TagValue")
        props = {
            "description": meta.get("Description", ""),
            "enableKeyRotation": bool(rotation),
            "policy": _document(policy.get("Policy")),
            "keyUsage": meta.get("KeyUsage"),
            "customerMasterKeySpec": meta.get("KeySpec", meta.get("CustomerMasterKeySpec")),
            "isEnabled": bool(meta.get("Enabled")),
            "multiRegion": bool(meta.get("MultiRegion", False)),
            "tags": tags,
        }
        found.append(
            Live(
                KMS_KEY,
                region,
                key_id,
                props,
                tags,
                {"id": key_id, "keyId": key_id, "arn": meta.get("Arn", "")},
                aliases=tuple(sorted(aliases.get(key_id, []))),
            )
        )
    return found


# ------------------------------------------------------------------ IAM


def roles(reader: Reader) -> list[Live]:
    found = []
    for role in reader.pages("iam", None, "ListRoles", "Roles"):
        name = role["RoleName"]
        if role.get("Path", "/").startswith("/aws-service-role/"):
            continue  # service-linked roles belong to AWS services
        tags = _tag_dict(reader.pages("iam", None, "ListRoleTags", "Tags", RoleName=name))
        props = {
            "name": name,
            "path": role.get("Path", "/"),
            "assumeRolePolicy": _document(role.get("AssumeRolePolicyDocument")),
            "description": role.get("Description", ""),
            "maxSessionDuration": role.get("MaxSessionDuration", 3600),
            "tags": tags,
        }
        found.append(Live(ROLE, None, name, props, tags, {"id": name, "name": name, "arn": role["Arn"]}))
    return found


def role_policies(reader: Reader, role: Live) -> list[Live]:
    """A role's inline policies and managed policy attachments."""
    name = role.name
    found = []
    for policy_name in reader.pages("iam", None, "ListRolePolicies", "PolicyNames", RoleName=name):
        document = reader.call("iam", None, "GetRolePolicy", RoleName=name, PolicyName=policy_name) or {}
        props = {"role": name, "name": policy_name, "policy": _document(document.get("PolicyDocument"))}
        ids = {"id": f"{name}:{policy_name}", "name": policy_name}
        found.append(Live(ROLE_POLICY, None, f"{name}/{policy_name}", props, {}, ids, parent=name))
    for attached in reader.pages("iam", None, "ListAttachedRolePolicies", "AttachedPolicies", RoleName=name):
        props = {"role": name, "policyArn": attached["PolicyArn"]}
        label = f"{name}/{attached.get('PolicyName', attached['PolicyArn'])}"
        found.append(Live(ROLE_POLICY_ATTACHMENT, None, label, props, {}, {}, parent=name))
    return found


# ------------------------------------------------------------------ EKS


def clusters(reader: Reader, region: str) -> list[Live]:
    found = []
    for name in reader.pages("eks", region, "ListClusters", "clusters"):
        cluster = (reader.call("eks", region, "DescribeCluster", name=name) or {}).get("cluster", {})
        vpc = cluster.get("resourcesVpcConfig", {})
        vpc_config: dict[str, Any] = {
            "endpointPublicAccess": bool(vpc.get("endpointPublicAccess", True)),
            "endpointPrivateAccess": bool(vpc.get("endpointPrivateAccess", False)),
            "subnetIds": list(vpc.get("subnetIds", [])),
            "securityGroupIds": list(vpc.get("securityGroupIds", [])),
        }
        if "publicAccessCidrs" in vpc:
            vpc_config["publicAccessCidrs"] = list(vpc["publicAccessCidrs"])
        logging = cluster.get("logging", {}).get("clusterLogging", [])
        encryption = cluster.get("encryptionConfig") or []
        tags = _tag_dict(cluster.get("tags"))
        props: dict[str, Any] = {
            "name": name,
            "version": cluster.get("version"),
            "roleArn": cluster.get("roleArn"),
            "vpcConfig": vpc_config,
            "enabledClusterLogTypes": sorted(t for entry in logging if entry.get("enabled") for t in entry["types"]),
            "encryptionConfig": {
                "resources": list(encryption[0].get("resources", [])),
                "provider": {"keyArn": encryption[0].get("provider", {}).get("keyArn")},
            }
            if encryption
            else None,
            "tags": tags,
        }
        unreported = []
        if "accessConfig" in cluster:
            access = cluster["accessConfig"]
            props["accessConfig"] = {"authenticationMode": access.get("authenticationMode")}
        else:
            unreported.append("accessConfig")
        ids = {"id": name, "name": name, "arn": cluster.get("arn", "")}
        found.append(Live(EKS_CLUSTER, region, name, props, tags, ids, unreported=tuple(unreported)))
    return found


def node_groups(reader: Reader, cluster: Live) -> list[Live]:
    region, cluster_name = cluster.region, cluster.name
    found = []
    for name in reader.pages("eks", region, "ListNodegroups", "nodegroups", clusterName=cluster_name):
        group = (
            reader.call("eks", region, "DescribeNodegroup", clusterName=cluster_name, nodegroupName=name) or {}
        ).get("nodegroup", {})
        tags = _tag_dict(group.get("tags"))
        template = group.get("launchTemplate")
        props: dict[str, Any] = {
            "clusterName": cluster_name,
            "nodeGroupName": name,
            "nodeRoleArn": group.get("nodeRole"),
            "subnetIds": list(group.get("subnets", [])),
            "instanceTypes": list(group.get("instanceTypes") or []),
            "amiType": group.get("amiType"),
            "capacityType": group.get("capacityType"),
            "scalingConfig": dict(group.get("scalingConfig", {})),
            "labels": dict(group.get("labels") or {}),
            "taints": [dict(t) for t in group.get("taints") or []],
            "launchTemplate": {
                "id": template.get("id"),
                "name": template.get("name"),
                "version": template.get("version"),
            }
            if template
            else None,
            "tags": tags,
        }
        if "updateConfig" in group:
            props["updateConfig"] = dict(group["updateConfig"])
        ids = {"id": f"{cluster_name}:{name}", "nodeGroupName": name, "arn": group.get("nodegroupArn", "")}
        found.append(Live(NODE_GROUP, region, f"{cluster_name}/{name}", props, tags, ids, parent=cluster_name))
    return found


def addons(reader: Reader, cluster: Live) -> list[Live]:
    region, cluster_name = cluster.region, cluster.name
    found = []
    for name in reader.pages("eks", region, "ListAddons", "addons", clusterName=cluster_name):
        addon = (reader.call("eks", region, "DescribeAddon", clusterName=cluster_name, addonName=name) or {}).get(
            "addon", {}
        )
        tags = _tag_dict(addon.get("tags"))
        props = {
            "clusterName": cluster_name,
            "addonName": name,
            "addonVersion": addon.get("addonVersion"),
            "tags": tags,
        }
        for key in ("configurationValues", "serviceAccountRoleArn"):
            if addon.get(key):
                props[key] = addon[key]
        ids = {"id": f"{cluster_name}:{name}", "arn": addon.get("addonArn", "")}
        found.append(Live(ADDON, region, f"{cluster_name}/{name}", props, tags, ids, parent=cluster_name))
    return found


# ------------------------------------------------------------------ EC2


def _template_data(data: dict[str, Any]) -> dict[str, Any]:
    """A launch template version's data in pulumi-aws's LaunchTemplate shape."""
    props: dict[str, Any] = {}
    if "MetadataOptions" in data:
        props["metadataOptions"] = {_camel(k): v for k, v in data["MetadataOptions"].items() if k != "State"}
    else:
        props["metadataOptions"] = None
    interfaces = []
    for nic in data.get("NetworkInterfaces", []):
        entry: dict[str, Any] = {}
        for key, value in nic.items():
            if key == "Groups":
                entry["securityGroups"] = list(value)
            elif key in ("AssociatePublicIpAddress", "DeleteOnTermination", "AssociateCarrierIpAddress"):
                entry[_camel(key)] = _flag(value)
            elif not isinstance(value, list | dict):
                entry[_camel(key)] = value
        interfaces.append(entry)
    props["networkInterfaces"] = interfaces
    placement = data.get("Placement")
    props["placement"] = {_camel(k): v for k, v in placement.items()} if placement else None
    mappings = []
    for mapping in data.get("BlockDeviceMappings", []):
        entry = {"deviceName": mapping.get("DeviceName")}
        if "Ebs" in mapping:
            entry["ebs"] = {
                _camel(k): _flag(v) if k in ("Encrypted", "DeleteOnTermination") else v
                for k, v in mapping["Ebs"].items()
            }
        mappings.append(entry)
    props["blockDeviceMappings"] = mappings
    for key in ("UserData", "InstanceType", "ImageId"):
        if key in data:
            props[_camel(key)] = data[key]
    props["tagSpecifications"] = [
        {"resourceType": spec.get("ResourceType"), "tags": _tag_dict(spec.get("Tags"))}
        for spec in data.get("TagSpecifications", [])
        # The template's own tags are no launch data (AWS refuses them there); moto 5 lists them here too.
        if spec.get("ResourceType") != "launch-template"
    ]
    return props


def launch_templates(reader: Reader, region: str) -> list[Live]:
    found = []
    for template in reader.pages("ec2", region, "DescribeLaunchTemplates", "LaunchTemplates"):
        template_id, name = template["LaunchTemplateId"], template["LaunchTemplateName"]
        versions = reader.pages(
            "ec2", region, "DescribeLaunchTemplateVersions", "LaunchTemplateVersions",
            LaunchTemplateId=template_id, Versions=["$Default"],
        )  # fmt: skip
        version = versions[0] if versions else {}
        tags = _tag_dict(template.get("Tags"))
        props = {"name": name, **_template_data(version.get("LaunchTemplateData", {})), "tags": tags}
        if version.get("VersionDescription"):
            props["description"] = version["VersionDescription"]
        ids = {"id": template_id, "name": name}
        found.append(Live(LAUNCH_TEMPLATE, region, name, props, tags, ids))
    return found


def placement_groups(reader: Reader, region: str) -> list[Live]:
    found = []
    for group in reader.pages("ec2", region, "DescribePlacementGroups", "PlacementGroups"):
        name = group["GroupName"]
        tags = _tag_dict(group.get("Tags"))
        props = {"name": name, "strategy": group.get("Strategy"), "tags": tags}
        if group.get("PartitionCount"):
            props["partitionCount"] = group["PartitionCount"]
        found.append(Live(PLACEMENT_GROUP, region, name, props, tags, {"id": name, "name": name}))
    return found


def vpcs(reader: Reader, region: str) -> list[Live]:
    found = []
    for vpc in reader.pages("ec2", region, "DescribeVpcs", "Vpcs"):
        vpc_id = vpc["VpcId"]
        tags = _tag_dict(vpc.get("Tags"))
        props: dict[str, Any] = {"cidrBlock": vpc.get("CidrBlock"), "tags": tags}
        for attribute in ("enableDnsSupport", "enableDnsHostnames"):
            answer = reader.call("ec2", region, "DescribeVpcAttribute", VpcId=vpc_id, Attribute=attribute) or {}
            props[attribute] = bool(answer.get(attribute[0].upper() + attribute[1:], {}).get("Value"))
        found.append(Live(VPC, region, vpc_id, props, tags, {"id": vpc_id}))
    return found


def flow_logs(reader: Reader, region: str, vpc_ids: list[str]) -> list[Live]:
    if not vpc_ids:
        return []
    found = []
    filters = [{"Name": "resource-id", "Values": vpc_ids}]
    for log in reader.pages("ec2", region, "DescribeFlowLogs", "FlowLogs", Filters=filters):
        tags = _tag_dict(log.get("Tags"))
        props = {
            "vpcId": log.get("ResourceId"),
            "trafficType": log.get("TrafficType"),
            "logDestinationType": log.get("LogDestinationType"),
            "logDestination": log.get("LogDestination")
            or (
                f"arn:aws:logs:{region}:{log.get('DeliverLogsPermissionArn', '::::').split(':')[4]}:log-group:"
                f"{log['LogGroupName']}"
                if log.get("LogGroupName")
                else None
            ),
            "iamRoleArn": log.get("DeliverLogsPermissionArn"),
            "tags": tags,
        }
        log_id = log["FlowLogId"]
        found.append(Live(FLOW_LOG, region, log_id, props, tags, {"id": log_id}, parent=log.get("ResourceId")))
    return found
