"""Mock answers for AWS resources and invokes: ids, ARNs, endpoints as a preview would show."""

from __future__ import annotations

from typing import Any

from aiinfra.plan.mocks import ACCOUNT_ID, ResourceContext, invoke


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
