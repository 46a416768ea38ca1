"""The AWS adapter of `ImageRegistry`: one ECR repository per image under `<stack>/`, encrypted with a KMS key
of its own, scanned on push, with immutable tags (except BuildKit's cache tag), a lifecycle that expires
untagged manifests and old builds, and a repository policy that lets exactly the stack's EKS node roles pull.

The documents are pure functions (`registry_key_policy`, `pull_policy`, `lifecycle_policy`) so tests can read
them back and lint them with parliament.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, cast

import pulumi
import pulumi_aws as aws

from components.aws.eks import EksCluster
from components.aws.lake import KEY_ADMIN_ACTIONS, KEY_USE_ACTIONS
from components.contracts import BUILD_CACHE_TAG, ImageSource, RegistryAdapter, RegistryArgs

PULL_ACTIONS = ("ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer")
CONTENT_TAG_PREFIX = "src-"


def registry_key_policy(*, partition: str, account_id: str, region: str, dns_suffix: str = "amazonaws.com") -> dict:
    """The account administers the key through IAM but uses it only through ECR in the registry's region (which
    creates a grant per repository to encrypt layers). In a key policy, Resource "*" means this key."""
    root = {"AWS": f"arn:{partition}:iam::{account_id}:root"}
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AccountAdministers",
                "Effect": "Allow",
                "Principal": root,
                "Action": list(KEY_ADMIN_ACTIONS),
                "Resource": "*",
            },
            {
                "Sid": "AccountUsesThroughEcr",
                "Effect": "Allow",
                "Principal": root,
                "Action": [*KEY_USE_ACTIONS, "kms:CreateGrant", "kms:RetireGrant"],
                "Resource": "*",
                "Condition": {
                    "StringEquals": {"kms:ViaService": f"ecr.{region}.{dns_suffix}", "kms:CallerAccount": account_id}
                },
            },
        ],
    }


def pull_policy(node_role_arns: Sequence[str]) -> dict[str, Any]:
    """The repository policy: these node roles (the kubelets of the stack's EKS clusters) may pull, nothing
    more; pushing stays with the deployer's own IAM permissions."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ClusterNodesPull",
                "Effect": "Allow",
                "Principal": {"AWS": sorted(node_role_arns)},
                "Action": list(PULL_ACTIONS),
            }
        ],
    }


def lifecycle_policy(untagged_days: int, keep_versions: int) -> dict[str, Any]:
    """Untagged manifests (superseded cache layers) expire after `untagged_days`; of the content-tagged builds
    the newest `keep_versions` stay."""
    return {
        "rules": [
            {
                "rulePriority": 1,
                "description": f"Expire untagged manifests after {untagged_days} days",
                "selection": {
                    "tagStatus": "untagged",
                    "countType": "sinceImagePushed",
                    "countUnit": "days",
                    "countNumber": untagged_days,
                },
                "action": {"type": "expire"},
            },
            {
                "rulePriority": 2,
                "description": f"Keep the newest {keep_versions} builds",
                "selection": {
                    "tagStatus": "tagged",
                    "tagPrefixList": [CONTENT_TAG_PREFIX],
                    "countType": "imageCountMoreThan",
                    "countNumber": keep_versions,
                },
                "action": {"type": "expire"},
            },
        ]
    }


class EcrRegistry(RegistryAdapter):
    """The repositories, their key and their policies."""

    provider: aws.Provider
    key: aws.kms.Key
    repositories: dict[str, aws.ecr.Repository]

    def __init__(self, name: str, args: RegistryArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aiinfra:aws:EcrRegistry", name, None, opts)
        region: str = args.region  # type: ignore[assignment]  # checked by the facade
        tags = dict(args.tags)
        self.provider = aws.Provider(
            f"{name}-provider", region=region, default_tags={"tags": tags}, opts=pulumi.ResourceOptions(parent=self)
        )
        child = pulumi.ResourceOptions(parent=self, provider=self.provider)
        stateful = pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(protect=args.protect))
        invoke = pulumi.InvokeOptions(provider=self.provider)
        partition = aws.get_partition(opts=invoke)
        account_id = aws.get_caller_identity(opts=invoke).account_id
        self.address = pulumi.Output.from_input(f"{account_id}.dkr.ecr.{region}.{partition.dns_suffix}")

        self.key = aws.kms.Key(
            f"{name}-key",
            description=f"Encryption of image registry {name} ({pulumi.get_stack()})",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=json.dumps(
                registry_key_policy(
                    partition=partition.partition, account_id=account_id, region=region, dns_suffix=partition.dns_suffix
                )
            ),
            tags=tags,
            opts=stateful,
        )
        aws.kms.Alias(
            f"{name}-key", name=f"alias/aiinfra/{pulumi.get_stack()}/{name}", target_key_id=self.key.key_id, opts=child
        )
        node_roles = pulumi.Output.all(*(cast(EksCluster, cluster).node_role.arn for cluster in args.pullers))
        self.repositories = {}
        self._policies: list[pulumi.Resource] = []
        for image in args.images:
            repository = aws.ecr.Repository(
                f"{name}-{image.repository}",
                name=f"{pulumi.get_stack()}/{image.repository}",
                image_tag_mutability="IMMUTABLE_WITH_EXCLUSION",
                image_tag_mutability_exclusion_filters=[{"filter": BUILD_CACHE_TAG, "filter_type": "WILDCARD"}],
                image_scanning_configuration={"scan_on_push": True},
                encryption_configurations=[{"encryption_type": "KMS", "kms_key": self.key.arn}],
                force_delete=not args.protect,
                tags=tags,
                opts=stateful,
            )
            self.repositories[image.repository] = repository
            self._policies.append(
                aws.ecr.LifecyclePolicy(
                    f"{name}-{image.repository}-lifecycle",
                    repository=repository.name,
                    policy=json.dumps(lifecycle_policy(args.untagged_days, args.keep_versions)),
                    opts=child,
                )
            )
            if args.pullers:
                self._policies.append(
                    aws.ecr.RepositoryPolicy(
                        f"{name}-{image.repository}-pull",
                        repository=repository.name,
                        policy=node_roles.apply(lambda arns: json.dumps(pull_policy(arns))),
                        opts=child,
                    )
                )
        self.register_outputs({"address": self.address, "keyArn": self.key.arn})

    def repository_url(self, image: ImageSource) -> pulumi.Output[str]:
        return self.repositories[image.repository].repository_url

    def push_credentials(self) -> Any:
        """The deployer's ECR token for the registry (valid 12 hours, read at every `pulumi up`)."""
        token = aws.ecr.get_authorization_token_output(opts=pulumi.InvokeOutputOptions(provider=self.provider))
        return {"address": self.address, "username": token.user_name, "password": token.password}

    def built_after(self) -> tuple[pulumi.Resource, ...]:
        return (*self.repositories.values(), *self._policies)
