"""The Azure adapter of `ImageRegistry`: a Premium Azure Container Registry (private endpoints need Premium) with
no admin user and no anonymous pull, zone-redundant, with a retention policy for untagged manifests; the
clusters pull through a private endpoint in their subnet, registered in a `privatelink.azurecr.io` zone linked
to their VNet, and each AKS kubelet identity holds `AcrPull` on exactly this registry.

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
from components.azure.network import linked_private_zone, private_endpoint
from components.azure.roles import assign
from components.contracts import ImageSource, RegistryAdapter, RegistryArgs, stack_hashed_name

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
    """The registry, its private endpoint and the kubelets' pull assignments."""

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
        zone_id = linked_private_zone(
            f"{name}-dns",
            resource_group_name=group.name,
            zone=PRIVATE_LINK_ZONE,
            vnet_id=cast("pulumi.Input[str]", args.vnet_id),
            tags=tags,
            opts=child,
        )
        private_endpoint(
            f"{name}-pe",
            resource_group_name=group.name,
            location=region,
            subnet_id=cast("pulumi.Input[str]", args.private_endpoint_subnet_id),
            target_id=self.registry.id,
            group=REGISTRY_GROUP,
            connection=f"{name}-{REGISTRY_GROUP}",
            zone_id=zone_id,
            tags=tags,
            opts=child,
        )
        for i, cluster in enumerate(args.pullers):
            assign(
                f"{name}-pull-{i}",
                role="AcrPull",
                scope=self.registry.id,
                principal_id=cast(AksCluster, cluster).kubelet_identity_object_id,
                subscription_id=client.subscription_id,
                opts=child,
            )
        self.address = self.registry.login_server
        self.register_outputs({"address": self.address, "registryId": self.registry.id})

    def repository_url(self, image: ImageSource) -> pulumi.Output[str]:
        return pulumi.Output.concat(self.address, "/", image.repository)

    def built_after(self) -> tuple[pulumi.Resource, ...]:
        return (self.registry,)
