"""AWS half of `WorkloadIdentity`: an IAM role for one Kubernetes service account of one EKS cluster, handed out
by EKS Pod Identity (default) or IRSA. The role carries no permissions of its own; `DataLake.grant` adds inline
policies to it."""

from __future__ import annotations

import json
from typing import cast

import pulumi
import pulumi_aws as aws

from components.aws.eks import EksCluster
from components.common import merge_tags
from components.contracts import IdentityBinding, IdentityBindingArgs
from components.kubernetes.meta import kubernetes_subject

STS_AUDIENCE = "sts.amazonaws.com"
IRSA_ROLE_ANNOTATION = "eks.amazonaws.com/role-arn"
MAX_SESSION_SECONDS = 3600


def irsa_trust(*, provider_arn: str, issuer_url: str, namespace: str, service_account: str) -> str:
    """A trust policy letting exactly `namespace/service_account` of the cluster behind `issuer_url` assume the
    role with its projected token (IAM roles for service accounts): the token's `sub` must be that service
    account and its `aud` must be STS (EKS user guide, "Assign IAM roles to Kubernetes service accounts")."""
    issuer = issuer_url.removeprefix("https://")
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "ServiceAccountWebIdentity",
                    "Effect": "Allow",
                    "Principal": {"Federated": provider_arn},
                    "Action": "sts:AssumeRoleWithWebIdentity",
                    "Condition": {
                        "StringEquals": {
                            f"{issuer}:sub": kubernetes_subject(namespace, service_account),
                            f"{issuer}:aud": STS_AUDIENCE,
                        }
                    },
                }
            ],
        }
    )


class AwsWorkloadIdentity(IdentityBinding):
    """An IAM role only the named service account of the named cluster can use."""

    role: aws.iam.Role
    association: aws.eks.PodIdentityAssociation | None
    provider: aws.Provider
    trust_policy: pulumi.Output[str]

    def __init__(self, name: str, args: IdentityBindingArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aiinfra:aws:WorkloadIdentity", name, opts)
        eks = cast(EksCluster, args.cluster)  # ADAPTERS pairs this class with EksCluster
        tags = merge_tags(eks.tags, args.tags)
        self.provider = eks.provider
        child = pulumi.ResourceOptions(parent=self, provider=eks.provider)
        if args.aws_mode == "irsa":
            self.trust_policy = pulumi.Output.all(eks.oidc_provider_arn, eks.oidc_issuer_url).apply(
                lambda v: irsa_trust(
                    provider_arn=v[0], issuer_url=v[1], namespace=args.namespace, service_account=args.service_account
                )
            )
        else:
            self.trust_policy = eks.pod_identity_trust(args.namespace, args.service_account)
        self.role = aws.iam.Role(
            f"{name}-role",
            description=f"aiinfra workload identity of {args.namespace}/{args.service_account} ({args.aws_mode})",
            assume_role_policy=self.trust_policy,
            max_session_duration=MAX_SESSION_SECONDS,
            tags=tags,
            opts=child,
        )
        self.association = None
        if args.aws_mode == "irsa":
            self.service_account_annotations = {IRSA_ROLE_ANNOTATION: self.role.arn}
        else:
            self.association = eks.pod_identity(
                f"{name}-association",
                namespace=args.namespace,
                service_account=args.service_account,
                role_arn=self.role.arn,
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.register_outputs({"roleArn": self.role.arn, "mode": args.aws_mode})
