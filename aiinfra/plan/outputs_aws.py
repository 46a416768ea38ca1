"""Mock answers for AWS resources and invokes: ids, ARNs, endpoints as a preview would show."""

from __future__ import annotations

import base64
from typing import Any

from aiinfra.plan.mock_registry import ACCOUNT_ID, ResourceContext, invoke, resource


def arn(ctx: ResourceContext, service: str, resource_path: str, *, regional: bool = True) -> str:
    region = ctx.aws_region if regional else ""
    return f"arn:aws:{service}:{region}:{ACCOUNT_ID}:{resource_path}"


@invoke("aws:index/getCallerIdentity:getCallerIdentity")
def caller_identity(_args: dict[str, Any], _provider: dict[str, Any]) -> dict[str, Any]:
    return {
        "accountId": ACCOUNT_ID,
        "arn": f"arn:aws:iam::{ACCOUNT_ID}:user/offline-plan",
        "id": ACCOUNT_ID,
        "userId": "AIDAOFFLINEPLAN",
    }


@invoke("aws:index/getPartition:getPartition")
def partition(_args: dict[str, Any], _provider: dict[str, Any]) -> dict[str, Any]:
    return {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws", "reverseDnsPrefix": "com.amazonaws"}


@invoke("aws:index/getRegion:getRegion")
def region(_args: dict[str, Any], provider: dict[str, Any]) -> dict[str, Any]:
    name = provider.get("region") or "us-east-1"
    return {"name": name, "region": name, "id": name, "endpoint": f"ec2.{name}.amazonaws.com", "description": name}


@invoke("aws:index/getAvailabilityZones:getAvailabilityZones")
def availability_zones(_args: dict[str, Any], provider: dict[str, Any]) -> dict[str, Any]:
    name = provider.get("region") or "us-east-1"
    suffixes = "abcdef"
    return {
        "id": name,
        "names": [f"{name}{s}" for s in suffixes],
        "zoneIds": [f"{name[:2]}{name.split('-')[1][0]}{name[-1]}-az{i + 1}" for i in range(len(suffixes))],
        "groupNames": [name] * len(suffixes),
    }


# ------------------------------------------------------------------ helpers


def physical_name(ctx: ResourceContext, key: str = "name") -> str:
    """The name input, or the autoname the engine would give (logical name + 7 hex)."""
    return ctx.inputs.get(key) or f"{ctx.name}-{ctx.short_hash(7)}"


def _uuid(ctx: ResourceContext) -> str:
    h = ctx.short_hash(32)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def _ip(ctx: ResourceContext, prefix: str = "203.0.113") -> str:
    """An address from a documentation range (RFC 5737)."""
    return f"{prefix}.{int(ctx.short_hash(4), 16) % 254 + 1}"


# Fake but well-formed: base64 of a PEM block, as EKS returns `certificateAuthority.data`.
_FAKE_CA_PEM = (
    "-----BEGIN CERTIFICATE-----\nMIIC/jCCAeagAwIBAgIBADANBgkqhkiG9w0BAQsFADAVMRMwEQYDVQQDEwprdWJlcm5l\n"
    "dGVzMB4XDTI1MDEwMTAwMDAwMFoXDTM1MDEwMTAwMDAwMFowFTETMBEGA1UEAxMKa3ViZXJuZXRlcw==\n"
    "-----END CERTIFICATE-----\n"
)
FAKE_CA_DATA = base64.b64encode(_FAKE_CA_PEM.encode()).decode()


# ------------------------------------------------------------------ VPC


@resource("aws:ec2/vpc:Vpc")
def vpc(ctx: ResourceContext) -> tuple[str, dict[str, Any]]:
    id_ = f"vpc-{ctx.short_hash()}"
    return id_, {
        "arn": arn(ctx, "ec2", f"vpc/{id_}"),
        "ownerId": ACCOUNT_ID,
        "defaultSecurityGroupId": f"sg-{ctx.short_hash()[::-1]}",
        "mainRouteTableId": f"rtb-{ctx.short_hash()[::-1]}",
    }


@resource("aws:ec2/subnet:Subnet")
def subnet(ctx: ResourceContext) -> tuple[str, dict[str, Any]]:
    id_ = f"subnet-{ctx.short_hash()}"
    return id_, {
        "arn": arn(ctx, "ec2", f"subnet/{id_}"),
        "ownerId": ACCOUNT_ID,
        "availabilityZoneId": f"use1-az{int(ctx.short_hash(2), 16) % 6 + 1}",
    }


@resource("aws:ec2/internetGateway:InternetGateway")
def internet_gateway(ctx: ResourceContext) -> tuple[str, dict[str, Any]]:
    id_ = f"igw-{ctx.short_hash()}"
    return id_, {"arn": arn(ctx, "ec2", f"internet-gateway/{id_}"), "ownerId": ACCOUNT_ID}


@resource("aws:ec2/eip:Eip")
def eip(ctx: ResourceContext) -> tuple[str, dict[str, Any]]:
    id_ = f"eipalloc-{ctx.short_hash()}"
    return id_, {"allocationId": id_, "publicIp": _ip(ctx), "arn": arn(ctx, "ec2", f"elastic-ip/{id_}")}


@resource("aws:ec2/natGateway:NatGateway")
def nat_gateway(ctx: ResourceContext) -> tuple[str, dict[str, Any]]:
    return f"nat-{ctx.short_hash()}", {
        "publicIp": _ip(ctx),
        "privateIp": _ip(ctx, "10.0.224"),
        "connectivityType": "public",
    }


@resource("aws:ec2/routeTable:RouteTable")
def route_table(ctx: ResourceContext) -> tuple[str, dict[str, Any]]:
    id_ = f"rtb-{ctx.short_hash()}"
    return id_, {"arn": arn(ctx, "ec2", f"route-table/{id_}"), "ownerId": ACCOUNT_ID}


@resource("aws:ec2/routeTableAssociation:RouteTableAssociation")
def route_table_association(ctx: ResourceContext) -> tuple[str, dict[str, Any]]:
    return f"rtbassoc-{ctx.short_hash()}", {}


@resource("aws:ec2/vpcEndpoint:VpcEndpoint")
def vpc_endpoint(ctx: ResourceContext) -> tuple[str, dict[str, Any]]:
    id_ = f"vpce-{ctx.short_hash()}"
    return id_, {
        "arn": arn(ctx, "ec2", f"vpc-endpoint/{id_}"),
        "prefixListId": f"pl-{ctx.short_hash(8)}",
        "state": "available",
        "ownerId": ACCOUNT_ID,
    }


@resource("aws:ec2/flowLog:FlowLog")
def flow_log(ctx: ResourceContext) -> tuple[str, dict[str, Any]]:
    id_ = f"fl-{ctx.short_hash()}"
    return id_, {"arn": arn(ctx, "ec2", f"vpc-flow-log/{id_}")}


@resource("aws:ec2/securityGroup:SecurityGroup")
def security_group(ctx: ResourceContext) -> tuple[str, dict[str, Any]]:
    id_ = f"sg-{ctx.short_hash()}"
    return id_, {"arn": arn(ctx, "ec2", f"security-group/{id_}"), "ownerId": ACCOUNT_ID, "name": physical_name(ctx)}


@resource(
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
)
def security_group_rule(ctx: ResourceContext) -> tuple[str, dict[str, Any]]:
    id_ = f"sgr-{ctx.short_hash()}"
    return id_, {"arn": arn(ctx, "ec2", f"security-group-rule/{id_}"), "securityGroupRuleId": id_}


@resource("aws:ec2/launchTemplate:LaunchTemplate")
def launch_template(ctx: ResourceContext) -> tuple[str, dict[str, Any]]:
    id_ = f"lt-{ctx.short_hash()}"
    return id_, {
        "arn": arn(ctx, "ec2", f"launch-template/{id_}"),
        "latestVersion": 1,
        "defaultVersion": 1,
        "name": physical_name(ctx),
    }


@resource("aws:ec2/placementGroup:PlacementGroup")
def placement_group(ctx: ResourceContext) -> tuple[str, dict[str, Any]]:
    name = physical_name(ctx)
    return name, {
        "name": name,
        "placementGroupId": f"pg-{ctx.short_hash()}",
        "arn": arn(ctx, "ec2", f"placement-group/{name}"),
    }


@invoke("aws:ec2/getVpc:getVpc")
def get_vpc(args: dict[str, Any], _provider: dict[str, Any]) -> dict[str, Any]:
    return {"id": args.get("id"), "cidrBlock": "10.0.0.0/16", "state": "available", "ownerId": ACCOUNT_ID}


@invoke("aws:ec2/getSubnets:getSubnets")
def get_subnets(args: dict[str, Any], _provider: dict[str, Any]) -> dict[str, Any]:
    """Offline, subnet zones are unknown: a zone filter matches the first listed subnet (one per zone)."""
    filters = {f["name"]: list(f["values"]) for f in args.get("filters") or []}
    ids = filters.get("subnet-id", [])
    return {"id": "offline", "ids": ids[:1] if "availability-zone" in filters else ids}


# ------------------------------------------------------------------ IAM, KMS, logs


@resource("aws:iam/role:Role")
def iam_role(ctx: ResourceContext) -> tuple[str, dict[str, Any]]:
    name = physical_name(ctx)
    return name, {
        "name": name,
        "arn": arn(ctx, "iam", f"role/{name}", regional=False),
        "uniqueId": f"AROA{ctx.short_hash(17).upper()}",
        "createDate": "2025-01-01T00:00:00Z",
    }


@resource("aws:iam/rolePolicy:RolePolicy")
def iam_role_policy(ctx: ResourceContext) -> tuple[str, dict[str, Any]]:
    name = physical_name(ctx)
    return f"{ctx.inputs.get('role')}:{name}", {"name": name}


@resource("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
def iam_role_policy_attachment(ctx: ResourceContext) -> tuple[str, dict[str, Any]]:
    return f"{ctx.inputs.get('role')}-{ctx.short_hash(20)}", {}


@resource("aws:iam/openIdConnectProvider:OpenIdConnectProvider")
def oidc_provider(ctx: ResourceContext) -> tuple[str, dict[str, Any]]:
    host = str(ctx.inputs.get("url", "")).removeprefix("https://")
    provider_arn = arn(ctx, "iam", f"oidc-provider/{host}", regional=False)
    return provider_arn, {"arn": provider_arn}


@invoke("aws:iam/getSessionContext:getSessionContext")
def session_context(args: dict[str, Any], _provider: dict[str, Any]) -> dict[str, Any]:
    caller = args.get("arn", "")
    return {"arn": caller, "id": caller, "issuerArn": caller, "issuerId": "", "issuerName": "", "sessionName": ""}


@resource("aws:kms/key:Key")
def kms_key(ctx: ResourceContext) -> tuple[str, dict[str, Any]]:
    key_id = _uuid(ctx)
    return key_id, {"keyId": key_id, "arn": arn(ctx, "kms", f"key/{key_id}")}


@resource("aws:kms/alias:Alias")
def kms_alias(ctx: ResourceContext) -> tuple[str, dict[str, Any]]:
    name = physical_name(ctx)
    return name, {"arn": arn(ctx, "kms", name), "targetKeyArn": arn(ctx, "kms", f"key/{ctx.inputs.get('targetKeyId')}")}


@resource("aws:cloudwatch/logGroup:LogGroup")
def log_group(ctx: ResourceContext) -> tuple[str, dict[str, Any]]:
    name = physical_name(ctx)
    return name, {"name": name, "arn": arn(ctx, "logs", f"log-group:{name}")}


# ------------------------------------------------------------------ EKS


@resource("aws:eks/cluster:Cluster")
def eks_cluster(ctx: ResourceContext) -> tuple[str, dict[str, Any]]:
    name = physical_name(ctx)
    oidc_id = ctx.short_hash(32).upper()
    region = ctx.aws_region
    vpc_config = dict(ctx.inputs.get("vpcConfig") or {})
    vpc_config |= {"clusterSecurityGroupId": f"sg-{ctx.short_hash()}", "vpcId": f"vpc-{ctx.short_hash()[::-1]}"}
    return name, {
        "name": name,
        "arn": arn(ctx, "eks", f"cluster/{name}"),
        "clusterId": _uuid(ctx),
        "endpoint": f"https://{oidc_id}.gr7.{region}.eks.amazonaws.com",
        "certificateAuthority": {"data": FAKE_CA_DATA},
        "identities": [{"oidcs": [{"issuer": f"https://oidc.eks.{region}.amazonaws.com/id/{oidc_id}"}]}],
        "platformVersion": "eks.1",
        "status": "ACTIVE",
        "vpcConfig": vpc_config,
        "kubernetesNetworkConfig": {"serviceIpv4Cidr": "172.20.0.0/16", "ipFamily": "ipv4"},
    }


@resource("aws:eks/addon:Addon")
def eks_addon(ctx: ResourceContext) -> tuple[str, dict[str, Any]]:
    cluster, addon = ctx.inputs.get("clusterName"), ctx.inputs.get("addonName")
    return f"{cluster}:{addon}", {
        "arn": arn(ctx, "eks", f"addon/{cluster}/{addon}/{_uuid(ctx)}"),
        "addonVersion": "v1.0.0-eksbuild.1",
    }


@resource("aws:eks/nodeGroup:NodeGroup")
def eks_node_group(ctx: ResourceContext) -> tuple[str, dict[str, Any]]:
    cluster, name = ctx.inputs.get("clusterName"), physical_name(ctx, "nodeGroupName")
    uuid = _uuid(ctx)
    return f"{cluster}:{name}", {
        "nodeGroupName": name,
        "arn": arn(ctx, "eks", f"nodegroup/{cluster}/{name}/{uuid}"),
        "status": "ACTIVE",
        "resources": [{"autoscalingGroups": [{"name": f"eks-{name}-{uuid}"}], "remoteAccessSecurityGroupId": ""}],
    }


@resource("aws:eks/accessEntry:AccessEntry")
def eks_access_entry(ctx: ResourceContext) -> tuple[str, dict[str, Any]]:
    cluster, principal = ctx.inputs.get("clusterName"), ctx.inputs.get("principalArn")
    return f"{cluster}:{principal}", {
        "accessEntryArn": arn(ctx, "eks", f"access-entry/{cluster}/{_uuid(ctx)}"),
        "type": "STANDARD",
    }


@resource("aws:eks/accessPolicyAssociation:AccessPolicyAssociation")
def eks_access_policy_association(ctx: ResourceContext) -> tuple[str, dict[str, Any]]:
    return f"{ctx.inputs.get('clusterName')}#{ctx.inputs.get('principalArn')}#{ctx.inputs.get('policyArn')}", {
        "associatedAt": "2025-01-01T00:00:00Z"
    }


@resource("aws:eks/podIdentityAssociation:PodIdentityAssociation")
def eks_pod_identity_association(ctx: ResourceContext) -> tuple[str, dict[str, Any]]:
    cluster = ctx.inputs.get("clusterName")
    association_id = f"a-{ctx.short_hash()}"
    return f"{cluster},{association_id}", {
        "associationId": association_id,
        "associationArn": arn(ctx, "eks", f"podidentityassociation/{cluster}/{association_id}"),
        "externalId": _uuid(ctx),
    }


@resource("aws:autoscaling/tag:Tag")
def autoscaling_tag(ctx: ResourceContext) -> tuple[str, dict[str, Any]]:
    tag = ctx.inputs.get("tag") or {}
    return f"{ctx.inputs.get('autoscalingGroupName')},{tag.get('key')}", {}


# ------------------------------------------------------------------ S3 (data lakes)


@resource("aws:s3/bucket:Bucket")
def s3_bucket(ctx: ResourceContext) -> tuple[str, dict[str, Any]]:
    # S3 autonames are the logical name plus a random suffix, lower case (bucket names are global).
    name = ctx.inputs.get("bucket") or f"{ctx.name}-{ctx.short_hash(7)}".lower()
    region = ctx.aws_region
    return name, {
        "bucket": name,
        "arn": f"arn:aws:s3:::{name}",
        "bucketDomainName": f"{name}.s3.amazonaws.com",
        "bucketRegionalDomainName": f"{name}.s3.{region}.amazonaws.com",
        "bucketRegion": region,
        "hostedZoneId": "Z3AQBSTGFYJSTF",
        "region": region,
    }


# ------------------------------------------------------------------ ECR (image registries)


@resource("aws:ecr/repository:Repository")
def ecr_repository(ctx: ResourceContext) -> tuple[str, dict[str, Any]]:
    name = physical_name(ctx)
    return name, {
        "arn": arn(ctx, "ecr", f"repository/{name}"),
        "registryId": ACCOUNT_ID,
        "repositoryUrl": f"{ACCOUNT_ID}.dkr.ecr.{ctx.aws_region}.amazonaws.com/{name}",
    }


@resource("aws:ecr/lifecyclePolicy:LifecyclePolicy", "aws:ecr/repositoryPolicy:RepositoryPolicy")
def ecr_repository_policy(ctx: ResourceContext) -> tuple[str, dict[str, Any]]:
    return str(ctx.inputs.get("repository")), {"registryId": ACCOUNT_ID}


@invoke("aws:ecr/getAuthorizationToken:getAuthorizationToken")
def ecr_authorization_token(_args: dict[str, Any], provider: dict[str, Any]) -> dict[str, Any]:
    region = provider.get("region") or "us-east-1"
    password = "offline-plan-token"
    return {
        "authorizationToken": base64.b64encode(f"AWS:{password}".encode()).decode(),
        "expiresAt": "2026-01-01T12:00:00Z",
        "id": region,
        "password": password,
        "proxyEndpoint": f"https://{ACCOUNT_ID}.dkr.ecr.{region}.amazonaws.com",
        "userName": "AWS",
    }
