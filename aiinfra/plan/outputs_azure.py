"""Mock answers for Azure (azure-native) resources and invokes: ARM ids, autonames, FQDNs, principal ids and
the AKS user kubeconfig, as a preview against a real subscription would show them."""

from __future__ import annotations

import base64
from typing import Any

import yaml

from aiinfra.plan.mock_registry import AZURE_SUBSCRIPTION, ResourceContext, invoke, resource

TENANT_ID = "72f988bf-0000-4000-8000-000000000000"
"""The Entra tenant offline plans pretend to run in."""
DEPLOYER_OBJECT_ID = "0d3f6a2e-5b1c-4c8e-9f7a-000000000001"
DEPLOYER_CLIENT_ID = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"
"""The Azure CLI's public client id: offline plans pretend `az login` signed the deployer in."""
AKS_AAD_SERVER_ID = "6dae42f8-4368-4678-94ff-3960e28e3630"
AKS_AAD_CLIENT_ID = "80faf920-1908-4b52-b5ef-a8e7bedfc67a"
"""The Entra applications AKS-managed Entra ID uses (server, and the public client kubelogin acts as)."""
DEFAULT_LOCATION = "eastus"

_servers: dict[tuple[str, str], str] = {}
"""(resource group, cluster) → API server FQDN, so the credentials invoke returns the cluster's own server."""


def _uuid(ctx: ResourceContext, salt: str = "") -> str:
    h = ResourceContext(ctx.type, f"{ctx.name}/{salt}", {}, {}).short_hash(32)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-8{h[17:20]}-{h[20:32]}"


def _location(ctx: ResourceContext) -> str:
    return ctx.inputs.get("location") or ctx.provider_inputs.get("location") or DEFAULT_LOCATION


def _name(ctx: ResourceContext, key: str) -> str:
    """The name input, or the autoname azure-native gives (logical name + 8 random characters)."""
    return ctx.inputs.get(key) or f"{ctx.name}{ctx.short_hash(8)}"


def _group_id(ctx: ResourceContext) -> str:
    return f"/subscriptions/{AZURE_SUBSCRIPTION}/resourceGroups/{ctx.inputs.get('resourceGroupName')}"


def _arm(ctx: ResourceContext, provider_path: str, name: str) -> str:
    return f"{_group_id(ctx)}/providers/{provider_path}/{name}"


def _ip(ctx: ResourceContext) -> str:
    """An address from a documentation range (RFC 5737)."""
    return f"198.51.100.{int(ctx.short_hash(4), 16) % 254 + 1}"


def _named(ctx: ResourceContext, key: str, provider_path: str, **extra: Any) -> tuple[str, dict[str, Any]]:
    name = _name(ctx, key)
    return _arm(ctx, provider_path, name), {"name": name, "provisioningState": "Succeeded", **extra}


def _child(ctx: ResourceContext, parent_key: str, provider_path: str, key: str, **extra: Any) -> tuple[str, dict]:
    """A resource under another: `provider_path` holds `{parent}`, the parent's name (input `parent_key`)."""
    name = _name(ctx, key)
    return _arm(ctx, provider_path.format(parent=ctx.inputs.get(parent_key)), name), {"name": name, **extra}


# ------------------------------------------------------------------ invokes


@invoke("azure-native:authorization:getClientConfig")
def client_config(_args: dict[str, Any], _provider: dict[str, Any]) -> dict[str, Any]:
    return {
        "clientId": DEPLOYER_CLIENT_ID,
        "objectId": DEPLOYER_OBJECT_ID,
        "subscriptionId": AZURE_SUBSCRIPTION,
        "tenantId": TENANT_ID,
    }


_FAKE_CA = base64.b64encode(
    b"-----BEGIN CERTIFICATE-----\nMIIE6DCCAtCgAwIBAgIQAKSoffline0plan0AKS0CA0wDQYJKoZIhvcNAQELBQAwDTEL\n"
    b"MAkGA1UEAxMCY2EwIBcNMjUwMTAxMDAwMDAwWhgPMjA1NTAxMDEwMDAwMDBaMA0xCzAJ\n-----END CERTIFICATE-----\n"
).decode()


def aks_user_kubeconfig(resource_group: str, cluster: str, server: str) -> str:
    """The kubeconfig `listClusterUserCredential?format=exec` returns for a cluster with managed Entra ID."""
    user = f"clusterUser_{resource_group}_{cluster}"
    config = {
        "apiVersion": "v1",
        "clusters": [{"cluster": {"certificate-authority-data": _FAKE_CA, "server": server}, "name": cluster}],
        "contexts": [{"context": {"cluster": cluster, "user": user}, "name": cluster}],
        "current-context": cluster,
        "kind": "Config",
        "preferences": {},
        "users": [
            {
                "name": user,
                "user": {
                    "exec": {
                        "apiVersion": "client.authentication.k8s.io/v1beta1",
                        "args": [
                            "get-token",
                            "--environment",
                            "AzurePublicCloud",
                            "--server-id",
                            AKS_AAD_SERVER_ID,
                            "--client-id",
                            AKS_AAD_CLIENT_ID,
                            "--tenant-id",
                            TENANT_ID,
                            "--login",
                            "devicecode",
                        ],
                        "command": "kubelogin",
                        "env": None,
                        "installHint": "kubelogin is not installed which is required to connect to AAD enabled "
                        "cluster.\n\nTo learn more, please go to https://aka.ms/aks/kubelogin\n",
                        "provideClusterInfo": False,
                    }
                },
            }
        ],
    }
    return yaml.safe_dump(config, sort_keys=False)


@invoke("azure-native:containerservice:listManagedClusterUserCredentials")
def cluster_user_credentials(args: dict[str, Any], provider: dict[str, Any]) -> dict[str, Any]:
    group, cluster = args.get("resourceGroupName", ""), args.get("resourceName", "")
    location = provider.get("location") or DEFAULT_LOCATION
    host = _servers.get((group, cluster)) or f"{cluster}-dns.hcp.{location}.azmk8s.io"
    kubeconfig = aks_user_kubeconfig(group, cluster, f"https://{host}:443")
    return {"kubeconfigs": [{"name": "clusterUser", "value": base64.b64encode(kubeconfig.encode()).decode()}]}


# ------------------------------------------------------------------ resources


@resource("azure-native:resources:ResourceGroup")
def resource_group(ctx: ResourceContext) -> tuple[str, dict[str, Any]]:
    name = _name(ctx, "resourceGroupName")
    return f"/subscriptions/{AZURE_SUBSCRIPTION}/resourceGroups/{name}", {
        "name": name,
        "type": "Microsoft.Resources/resourceGroups",
        "properties": {"provisioningState": "Succeeded"},
    }


@resource("azure-native:network:VirtualNetwork")
def virtual_network(ctx: ResourceContext) -> tuple[str, dict[str, Any]]:
    id_, outputs = _named(ctx, "virtualNetworkName", "Microsoft.Network/virtualNetworks", resourceGuid=_uuid(ctx))
    subnets = [
        {**subnet, "id": f"{id_}/subnets/{subnet.get('name')}", "provisioningState": "Succeeded"}
        for subnet in ctx.inputs.get("subnets") or []
    ]
    return id_, {**outputs, "subnets": subnets}


@resource("azure-native:network:Subnet")
def subnet(ctx: ResourceContext) -> tuple[str, dict[str, Any]]:
    name = _name(ctx, "subnetName")
    vnet = ctx.inputs.get("virtualNetworkName")
    return _arm(ctx, f"Microsoft.Network/virtualNetworks/{vnet}/subnets", name), {
        "name": name,
        "provisioningState": "Succeeded",
    }


@resource("azure-native:network:PublicIPAddress")
def public_ip(ctx: ResourceContext) -> tuple[str, dict[str, Any]]:
    return _named(ctx, "publicIpAddressName", "Microsoft.Network/publicIPAddresses", ipAddress=_ip(ctx))


@resource("azure-native:network:NatGateway")
def nat_gateway(ctx: ResourceContext) -> tuple[str, dict[str, Any]]:
    return _named(ctx, "natGatewayName", "Microsoft.Network/natGateways", resourceGuid=_uuid(ctx))


@resource("azure-native:managedidentity:UserAssignedIdentity")
def user_assigned_identity(ctx: ResourceContext) -> tuple[str, dict[str, Any]]:
    return _named(
        ctx,
        "resourceName",
        "Microsoft.ManagedIdentity/userAssignedIdentities",
        principalId=_uuid(ctx, "principal"),
        clientId=_uuid(ctx, "client"),
        tenantId=TENANT_ID,
    )


@resource("azure-native:keyvault:Vault")
def vault(ctx: ResourceContext) -> tuple[str, dict[str, Any]]:
    name = _name(ctx, "vaultName")
    properties = {**(ctx.inputs.get("properties") or {}), "vaultUri": f"https://{name}.vault.azure.net/"}
    return _arm(ctx, "Microsoft.KeyVault/vaults", name), {"name": name, "properties": properties}


@resource("azure-native:keyvault:Key")
def key(ctx: ResourceContext) -> tuple[str, dict[str, Any]]:
    name, vault_name = _name(ctx, "keyName"), ctx.inputs.get("vaultName")
    uri = f"https://{vault_name}.vault.azure.net/keys/{name}"
    return _arm(ctx, f"Microsoft.KeyVault/vaults/{vault_name}/keys", name), {
        "name": name,
        "keyUri": uri,
        "keyUriWithVersion": f"{uri}/{ctx.short_hash(32)}",
    }


@resource("azure-native:compute:DiskEncryptionSet")
def disk_encryption_set(ctx: ResourceContext) -> tuple[str, dict[str, Any]]:
    identity = {**(ctx.inputs.get("identity") or {}), "principalId": _uuid(ctx, "principal"), "tenantId": TENANT_ID}
    return _named(ctx, "diskEncryptionSetName", "Microsoft.Compute/diskEncryptionSets", identity=identity)


@resource("azure-native:operationalinsights:Workspace")
def workspace(ctx: ResourceContext) -> tuple[str, dict[str, Any]]:
    return _named(ctx, "workspaceName", "Microsoft.OperationalInsights/workspaces", customerId=_uuid(ctx))


@resource("azure-native:containerservice:ManagedCluster")
def managed_cluster(ctx: ResourceContext) -> tuple[str, dict[str, Any]]:
    name, location = _name(ctx, "resourceName"), _location(ctx)
    group = ctx.inputs.get("resourceGroupName", "")
    prefix = f"{ctx.inputs.get('dnsPrefix') or name}-{ctx.short_hash(8)}"
    access = ctx.inputs.get("apiServerAccessProfile") or {}
    private = bool(access.get("enablePrivateCluster"))
    endpoints: dict[str, Any] = {"azurePortalFQDN": f"{prefix}.portal.hcp.{location}.azmk8s.io"}
    if private:
        endpoints["privateFQDN"] = f"{prefix}.{_uuid(ctx, 'dns')}.privatelink.{location}.azmk8s.io"
    else:
        endpoints["fqdn"] = f"{prefix}.hcp.{location}.azmk8s.io"
    _servers[(group, name)] = endpoints.get("privateFQDN") or endpoints["fqdn"]
    identity = ctx.inputs.get("identity") or {"type": "SystemAssigned"}
    node_group = f"MC_{group}_{name}_{location}"
    return _arm(ctx, "Microsoft.ContainerService/managedClusters", name), {
        "name": name,
        "provisioningState": "Succeeded",
        "powerState": {"code": "Running"},
        "currentKubernetesVersion": f"{ctx.inputs.get('kubernetesVersion', '1.33')}.0",
        "nodeResourceGroup": node_group,
        **endpoints,
        "identity": {
            "type": identity.get("type"),
            "principalId": _uuid(ctx, "principal"),
            "tenantId": TENANT_ID,
            "userAssignedIdentities": {
                uid: {"clientId": _uuid(ctx, f"{uid}/client"), "principalId": _uuid(ctx, f"{uid}/principal")}
                for uid in identity.get("userAssignedIdentities") or []
            },
        },
        "identityProfile": {
            "kubeletidentity": {
                "clientId": _uuid(ctx, "kubelet/client"),
                "objectId": _uuid(ctx, "kubelet/object"),
                "resourceId": f"/subscriptions/{AZURE_SUBSCRIPTION}/resourceGroups/{node_group}/providers/"
                f"Microsoft.ManagedIdentity/userAssignedIdentities/{name}-agentpool",
            }
        },
        "oidcIssuerProfile": {
            **(ctx.inputs.get("oidcIssuerProfile") or {}),
            "issuerURL": f"https://{location}.oic.prod-aks.azure.com/{TENANT_ID}/{_uuid(ctx, 'oidc')}/",
        },
    }


@resource("azure-native:containerservice:AgentPool")
def agent_pool(ctx: ResourceContext) -> tuple[str, dict[str, Any]]:
    name, cluster = _name(ctx, "agentPoolName"), ctx.inputs.get("resourceName")
    return _arm(ctx, f"Microsoft.ContainerService/managedClusters/{cluster}/agentPools", name), {
        "name": name,
        "provisioningState": "Succeeded",
        "nodeImageVersion": "AKSUbuntu-2204gen2containerd-202506.01.0",
    }


@resource("azure-native:authorization:RoleAssignment")
def role_assignment(ctx: ResourceContext) -> tuple[str, dict[str, Any]]:
    name = ctx.inputs.get("roleAssignmentName") or _uuid(ctx)
    return f"{ctx.inputs.get('scope')}/providers/Microsoft.Authorization/roleAssignments/{name}", {
        "name": name,
        "type": "Microsoft.Authorization/roleAssignments",
    }


@resource("azure-native:monitor:DiagnosticSetting")
def diagnostic_setting(ctx: ResourceContext) -> tuple[str, dict[str, Any]]:
    name = _name(ctx, "name")
    return f"{ctx.inputs.get('resourceUri')}/providers/Microsoft.Insights/diagnosticSettings/{name}", {"name": name}


# ------------------------------------------------------------------ ADLS Gen2 (data lakes), workload identity


@resource("azure-native:storage:StorageAccount")
def storage_account(ctx: ResourceContext) -> tuple[str, dict[str, Any]]:
    # Storage account names are global: 3-24 lower-case letters and digits.
    name = ctx.inputs.get("accountName") or "".join(c for c in f"{ctx.name}{ctx.short_hash(8)}" if c.isalnum())[:24]
    name = name.lower()
    endpoints = {kind: f"https://{name}.{kind}.core.windows.net/" for kind in ("blob", "dfs", "file", "queue")}
    identity = ctx.inputs.get("identity") or {"type": "None"}
    return _arm(ctx, "Microsoft.Storage/storageAccounts", name), {
        "name": name,
        "provisioningState": "Succeeded",
        "primaryEndpoints": endpoints,
        "primaryLocation": _location(ctx),
        # The input lists identity ids; the API answers a map of id → its client and principal ids.
        "identity": {
            "type": identity.get("type"),
            "userAssignedIdentities": {
                uid: {"clientId": _uuid(ctx, f"{uid}/client"), "principalId": _uuid(ctx, f"{uid}/principal")}
                for uid in identity.get("userAssignedIdentities") or []
            },
        },
    }


@resource("azure-native:storage:BlobContainer")
def blob_container(ctx: ResourceContext) -> tuple[str, dict[str, Any]]:
    return _child(
        ctx,
        "accountName",
        "Microsoft.Storage/storageAccounts/{parent}/blobServices/default/containers",
        "containerName",
    )


@resource("azure-native:storage:BlobServiceProperties", "azure-native:storage:ManagementPolicy")
def storage_account_child(ctx: ResourceContext) -> tuple[str, dict[str, Any]]:
    account = ctx.inputs.get("accountName")
    kind, key = (
        ("blobServices", "blobServicesName")
        if ctx.type.endswith("BlobServiceProperties")
        else ("managementPolicies", "managementPolicyName")
    )
    name = ctx.inputs.get(key) or "default"
    return _arm(ctx, f"Microsoft.Storage/storageAccounts/{account}/{kind}", name), {"name": name}


@resource("azure-native:network:PrivateEndpoint")
def private_endpoint(ctx: ResourceContext) -> tuple[str, dict[str, Any]]:
    return _named(
        ctx,
        "privateEndpointName",
        "Microsoft.Network/privateEndpoints",
        customDnsConfigs=[],
        networkInterfaces=[{"id": _arm(ctx, "Microsoft.Network/networkInterfaces", f"{ctx.name}.nic")}],
    )


@resource("azure-native:network:PrivateDnsZoneGroup")
def private_dns_zone_group(ctx: ResourceContext) -> tuple[str, dict[str, Any]]:
    endpoint, name = ctx.inputs.get("privateEndpointName"), _name(ctx, "privateDnsZoneGroupName")
    return _arm(ctx, f"Microsoft.Network/privateEndpoints/{endpoint}/privateDnsZoneGroups", name), {"name": name}


@resource("azure-native:privatedns:PrivateZone")
def private_zone(ctx: ResourceContext) -> tuple[str, dict[str, Any]]:
    return _named(ctx, "privateZoneName", "Microsoft.Network/privateDnsZones")


@resource("azure-native:privatedns:VirtualNetworkLink")
def private_zone_link(ctx: ResourceContext) -> tuple[str, dict[str, Any]]:
    path = "Microsoft.Network/privateDnsZones/{parent}/virtualNetworkLinks"
    return _child(ctx, "privateZoneName", path, "virtualNetworkLinkName", virtualNetworkLinkState="Completed")


@resource("azure-native:managedidentity:FederatedIdentityCredential")
def federated_identity_credential(ctx: ResourceContext) -> tuple[str, dict[str, Any]]:
    identity, name = ctx.inputs.get("resourceName"), _name(ctx, "federatedIdentityCredentialResourceName")
    provider_path = f"Microsoft.ManagedIdentity/userAssignedIdentities/{identity}/federatedIdentityCredentials"
    return _arm(ctx, provider_path, name), {"name": name}


@resource("azure-native:authorization:RoleDefinition")
def role_definition(ctx: ResourceContext) -> tuple[str, dict[str, Any]]:
    guid = ctx.inputs.get("roleDefinitionId") or _uuid(ctx)
    return f"/subscriptions/{AZURE_SUBSCRIPTION}/providers/Microsoft.Authorization/roleDefinitions/{guid}", {
        "name": guid,
        "type": "Microsoft.Authorization/roleDefinitions",
    }


# ------------------------------------------------------------------ Container Registry (image registries)


@resource("azure-native:containerregistry:Registry")
def container_registry(ctx: ResourceContext) -> tuple[str, dict[str, Any]]:
    name = _name(ctx, "registryName")
    return _arm(ctx, "Microsoft.ContainerRegistry/registries", name), {
        "name": name,
        "loginServer": f"{name.lower()}.azurecr.io",
        "provisioningState": "Succeeded",
        "creationDate": "2026-01-01T00:00:00Z",
    }


@resource("azure-native:containerregistry:Replication")
def container_registry_replication(ctx: ResourceContext) -> tuple[str, dict[str, Any]]:
    path = "Microsoft.ContainerRegistry/registries/{parent}/replications"
    ready = {"provisioningState": "Succeeded", "status": {"displayStatus": "Ready"}}
    return _child(ctx, "registryName", path, "replicationName", **ready)
