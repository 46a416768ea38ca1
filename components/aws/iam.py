"""IAM policy documents the AWS components share: service trust and scoped statements."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any


def service_trust(
    service: str, *, actions: Sequence[str] = ("sts:AssumeRole",), condition: Mapping[str, Any] | None = None
) -> str:
    """A trust policy letting one AWS service principal assume the role."""
    statement: dict[str, Any] = {"Effect": "Allow", "Principal": {"Service": service}, "Action": list(actions)}
    if condition:
        statement["Condition"] = dict(condition)
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def policy(*statements: Mapping[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [dict(s) for s in statements]})


def allow(actions: Sequence[str], resources: Sequence[str], *, sid: str | None = None) -> dict[str, Any]:
    statement: dict[str, Any] = {"Effect": "Allow", "Action": list(actions), "Resource": list(resources)}
    if sid:
        statement["Sid"] = sid
    return statement


def managed_policy(partition: str, policy_name: str) -> str:
    """The ARN of an AWS managed policy in the provider's partition."""
    return f"arn:{partition}:iam::aws:policy/{policy_name}"


POD_IDENTITY_SERVICE = "pods.eks.amazonaws.com"


def pod_identity_trust(*, cluster_arn: str, namespace: str, service_account: str) -> str:
    """A trust policy letting EKS Pod Identity hand the role to one service account of one cluster only.

    Pod Identity tags each session with the cluster, namespace and service account (`sts:TagSession`), and
    the condition pins all three, so an association made elsewhere for the same role is refused by IAM
    (AWS EKS user guide, "Create IAM role with trust policy required by EKS Pod Identity").
    """
    return service_trust(
        POD_IDENTITY_SERVICE,
        actions=("sts:AssumeRole", "sts:TagSession"),
        condition={
            "StringEquals": {
                "aws:RequestTag/eks-cluster-arn": cluster_arn,
                "aws:RequestTag/kubernetes-namespace": namespace,
                "aws:RequestTag/kubernetes-service-account": service_account,
            }
        },
    )
