"""The GCP adapter of `ImageRegistry`: an Artifact Registry Docker repository `aiinfra-<stack>` holding every image
(CMEK with a key of its own, immutable tags, cleanup policies), a mutable `aiinfra-<stack>-cache` repository for
BuildKit's layer cache (immutable tags would refuse the moving cache tag), and `roles/artifactregistry.reader`
on exactly the image repository for the node service account of each of the stack's GKE clusters.
"""

from __future__ import annotations

from typing import Any, cast

import pulumi
import pulumi_gcp as gcp

from components.common import gcp_labels
from components.contracts import BUILD_CACHE_TAG, ImageSource, RegistryAdapter, RegistryArgs
from components.gcp.gke import GkeCluster
from components.gcp.keys import service_key

PULL_ROLE = "roles/artifactregistry.reader"
DAY_SECONDS = 86_400


def cleanup_policies(
    untagged_days: int, keep_versions: int | None
) -> list[gcp.artifactregistry.RepositoryCleanupPolicyArgsDict]:
    """Delete untagged versions after `untagged_days`; keep the newest `keep_versions` (KEEP wins over DELETE,
    so a recent build is never cleaned up). Without `keep_versions` (the cache) only the first applies."""
    policies: list[gcp.artifactregistry.RepositoryCleanupPolicyArgsDict] = [
        {
            "id": "delete-untagged",
            "action": "DELETE",
            "condition": {"tag_state": "UNTAGGED", "older_than": f"{untagged_days * DAY_SECONDS}s"},
        }
    ]
    if keep_versions is not None:
        policies.append({"id": "keep-newest", "action": "KEEP", "most_recent_versions": {"keep_count": keep_versions}})
    return policies


class ArtifactRegistry(RegistryAdapter):
    """The image and cache repositories, their key and the nodes' pull bindings."""

    provider: gcp.Provider
    key: gcp.kms.CryptoKey
    repository: gcp.artifactregistry.Repository
    cache: gcp.artifactregistry.Repository

    def __init__(self, name: str, args: RegistryArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aiinfra:gcp:ArtifactRegistry", name, None, opts)
        region: str = args.region  # type: ignore[assignment]  # checked by the facade
        labels = gcp_labels(args.tags)
        self.provider = gcp.Provider(
            f"{name}-provider", region=region, default_labels=labels, opts=pulumi.ResourceOptions(parent=self)
        )
        child = pulumi.ResourceOptions(parent=self, provider=self.provider)
        stateful = pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(protect=args.protect))
        project = gcp.organizations.get_project_output(opts=pulumi.InvokeOutputOptions(provider=self.provider))

        _, self.key, key_grant = service_key(
            name,
            key="key",
            agent="registry-agent",
            member=project.number.apply(
                lambda number: f"serviceAccount:service-{number}@gcp-sa-artifactregistry.iam.gserviceaccount.com"
            ),
            region=region,
            labels=labels,
            protect=args.protect,
            opts=child,
        )
        # A CMEK repository cannot be created before its service agent may use the key.
        after_key = pulumi.ResourceOptions.merge(stateful, pulumi.ResourceOptions(depends_on=[key_grant]))
        repository_id = f"aiinfra-{pulumi.get_stack()}"
        self.repository = gcp.artifactregistry.Repository(
            f"{name}-images",
            repository_id=repository_id,
            location=region,
            format="DOCKER",
            description=f"aiinfra workload images ({pulumi.get_stack()})",
            kms_key_name=self.key.id,
            docker_config={"immutable_tags": True},
            cleanup_policy_dry_run=False,
            cleanup_policies=cleanup_policies(args.untagged_days, args.keep_versions),
            labels=labels,
            opts=after_key,
        )
        self.cache = gcp.artifactregistry.Repository(
            f"{name}-cache",
            repository_id=f"{repository_id}-cache",
            location=region,
            format="DOCKER",
            description=f"BuildKit layer cache of the aiinfra images ({pulumi.get_stack()})",
            kms_key_name=self.key.id,
            cleanup_policy_dry_run=False,
            cleanup_policies=cleanup_policies(args.untagged_days, None),
            labels=labels,
            opts=after_key,
        )
        for i, cluster in enumerate(args.pullers):
            gcp.artifactregistry.RepositoryIamMember(
                f"{name}-pull-{i}",
                project=self.repository.project,
                location=region,
                repository=self.repository.name,
                role=PULL_ROLE,
                member=cast(GkeCluster, cluster).node_service_account.member,
                opts=child,
            )
        self._host = f"{region}-docker.pkg.dev"
        self.address = pulumi.Output.concat(self._host, "/", project.project_id, "/", repository_id)
        self._cache_address = pulumi.Output.concat(self._host, "/", project.project_id, "/", repository_id, "-cache")
        self.register_outputs({"address": self.address, "keyId": self.key.id})

    def repository_url(self, image: ImageSource) -> pulumi.Output[str]:
        return pulumi.Output.concat(self.address, "/", image.repository)

    def cache_ref(self, image: ImageSource) -> pulumi.Output[str]:
        return pulumi.Output.concat(self._cache_address, "/", image.repository, ":", BUILD_CACHE_TAG)

    def push_credentials(self) -> Any:
        """The deployer's OAuth access token (what `gcloud auth configure-docker` would hand Docker)."""
        client = gcp.organizations.get_client_config_output(opts=pulumi.InvokeOutputOptions(provider=self.provider))
        return {"address": self._host, "username": "oauth2accesstoken", "password": client.access_token}

    def built_after(self) -> tuple[pulumi.Resource, ...]:
        return (self.repository, self.cache)
