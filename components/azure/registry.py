"""The Azure adapter of `ImageRegistry`: a Premium Azure Container Registry (private endpoints and geo-replication
need Premium) with no admin user and no anonymous pull, zone-redundant, with a retention policy for untagged
manifests, and each AKS kubelet identity holds `AcrPull` on exactly this registry.

Every pulling cluster's network gets a private endpoint in its subnet, registered in a `privatelink.azurecr.io`
zone of its own linked to its VNet (or the one it names): one shared zone would hold one address per name, so
the clusters would resolve each other's endpoints. Clusters sharing a VNet share its endpoint. A cluster
outside the registry's region gets a zone-redundant replica in its region, so its pulls stay in its region;
the endpoints are created after the replicas, whose data endpoints they must register.

Public network access is off, and export with it, unless `push_cidrs` admits the machine that runs `pulumi up`
(then every other public address is denied). Pushes authenticate with the deployer's Entra ID identity through
Docker's credentials (`az acr login --name <registry>`): with the admin user off there is no password to hand to
BuildKit.
"""

from __future__ import annotations

from typing import Any, cast

import pulumi
from pulumi_azure_native import authorization, containerregistry, resources
from pulumi_azure_native import provider as azure_provider

from components.azure.aks import AksCluster
from components.azure.network import endpoints_in_networks
from components.azure.roles import assign
from components.contracts import ImageSource, RegistryAdapter, RegistryArgs, distinct_networks, stack_hashed_name

PRIVATE_LINK_ZONE = "privatelink.azurecr.io"
REGISTRY_GROUP = "registry"


def network_settings(push_cidrs: tuple[str, ...]) -> dict[str, Any]:
    """Closed to the internet; with `push_cidrs`, open to exactly those addresses. Export (copying images out
    of the registry) can only be disabled while public access is."""
    if not push_cidrs:
        return {"public_network_access": "Disabled", "export_policy": {"status": "disabled"}}
    return {
        "public_network_access": "Enabled",
        "network_rule_set": {
            "default_action": "Deny",
            "ip_rules": [{"action": "Allow", "i_p_address_or_range": cidr} for cidr in push_cidrs],
        },
    }


class AcrRegistry(RegistryAdapter):
    """The registry, its replicas, a private endpoint per pulling network and the kubelets' pull assignments."""

    registry: containerregistry.Registry

    def __init__(self, name: str, args: RegistryArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aiinfra:azure:AcrRegistry", name, None, opts)
        region: str = args.region  # type: ignore[assignment]  # checked by the facade
        tags = dict(args.tags)
        provider = azure_provider.Provider(
            f"{name}-provider", location=region, opts=pulumi.ResourceOptions(parent=self)
        )
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        stateful = pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(protect=args.protect))
        client = authorization.get_client_config_output(opts=pulumi.InvokeOutputOptions(provider=provider))
        group = resources.ResourceGroup(f"{name}-rg", location=region, tags=tags, opts=stateful)
        settings = network_settings(args.push_cidrs)
        export_policy = settings.pop("export_policy", {"status": "enabled"})
        self.registry = containerregistry.Registry(
            f"{name}-acr",
            registry_name=stack_hashed_name(name, "acr", 50),
            resource_group_name=group.name,
            location=region,
            sku={"name": "Premium"},
            admin_user_enabled=False,
            anonymous_pull_enabled=False,
            data_endpoint_enabled=True,
            zone_redundancy="Enabled",
            network_rule_bypass_options="None",
            policies={
                "retention_policy": {"days": args.untagged_days, "status": "enabled"},
                "export_policy": export_policy,
            },
            **settings,
            tags=tags,
            opts=stateful,
        )
        clusters = tuple(cast(AksCluster, cluster) for cluster in args.pullers)
        replicas = [
            containerregistry.Replication(
                f"{name}-replica-{replica_region}",
                replication_name=replica_region,  # alphanumeric, as Azure requires; named after its region
                registry_name=self.registry.name,
                resource_group_name=group.name,
                location=replica_region,
                zone_redundancy="Enabled",
                region_endpoint_enabled=True,
                tags=tags,
                opts=stateful,
            )
            for replica_region in dict.fromkeys(c.region for c in clusters if c.region != region)
        ]
        endpoints_in_networks(
            name,
            distinct_networks(cluster.private_network for cluster in clusters),
            target_id=self.registry.id,
            groups={"": (REGISTRY_GROUP, PRIVATE_LINK_ZONE)},
            resource_group_name=group.name,
            tags=tags,
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=replicas)),
        )
        for i, cluster in enumerate(clusters):
            assign(
                f"{name}-pull-{i}",
                role="AcrPull",
                scope=self.registry.id,
                principal_id=cluster.kubelet_identity_object_id,
                subscription_id=client.subscription_id,
                opts=child,
            )
        self.address = self.registry.login_server
        self.register_outputs({"address": self.address, "registryId": self.registry.id})

    def repository_url(self, image: ImageSource) -> pulumi.Output[str]:
        return pulumi.Output.concat(self.address, "/", image.repository)

    def built_after(self) -> tuple[pulumi.Resource, ...]:
        return (self.registry,)
