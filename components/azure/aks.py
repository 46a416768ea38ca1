"""The Azure adapter of `Cluster`: a hardened AKS cluster (private API server or authorised ranges, Entra ID
with Azure RBAC and no local accounts, OIDC issuer and workload identity, Cilium network policy, customer-managed
keys for etcd and disks, encryption at host, audit logs) on a new or existing VNet, GPU agent pools, and the
GPU/InfiniBand software those pools need."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Sequence
from typing import cast

import pulumi
import pulumi_kubernetes as k8s
import yaml
from pulumi_azure_native import (
    authorization,
    containerservice,
    managedidentity,
    monitor,
    operationalinsights,
    resources,
)
from pulumi_azure_native import provider as azure_provider

from aiinfra.core.catalog import aks_system_pool_nodes, azure_region_zones, resolve
from aiinfra.core.catalog.data import AZURE_REGIONS_SOURCE, AZURE_ZONES
from components.azure.agent_pool import (
    SYSTEM_POOL_NAME,
    agent_pool_args,
    agent_pool_name,
    imposed_taints,
    pool_problems,
)
from components.azure.encryption import ClusterKeys, ClusterKeysArgs
from components.azure.network import DNS_SERVICE_IP, POD_CIDR, SERVICE_CIDR, VirtualNetwork, VirtualNetworkArgs
from components.azure.network import cidr_problems as network_cidr_problems
from components.azure.roles import assign
from components.azure.software import ClusterSoftware, ClusterSoftwareArgs
from components.common import ArgProblems, Taint, merge_tags
from components.contracts import ClusterAdapter, ClusterArgs, NodePoolArgs, PrivateNetwork

SYSTEM_TAINT = "CriticalAddonsOnly=true:NoSchedule"
"""Keeps the system pool for CoreDNS, metrics-server, konnectivity and the like (only critical add-ons)."""
CONTROL_PLANE_LOGS = ("kube-audit", "kube-apiserver", "guard")
LOG_RETENTION_DAYS = 90
IMAGE_CLEANER_INTERVAL_HOURS = 168
AKS_AAD_SERVER_ID = "6dae42f8-4368-4678-94ff-3960e28e3630"
"""The Entra application every AKS cluster with managed Entra ID authenticates tokens for."""
KUBELOGIN_LOGIN = "azurecli"
"""kubelogin signs in with the Azure CLI session Pulumi itself runs under (not the interactive device code
AKS's kubeconfig asks for)."""


def _physical_name(name: str, max_length: int) -> str:
    """Lower-case letters, digits and hyphens; the stack keeps stacks apart."""
    cleaned = re.sub(r"[^a-z0-9-]+", "-", f"{name}-{pulumi.get_stack()}".lower()).strip("-")
    return cleaned[:max_length].rstrip("-")


def _vault_name(name: str) -> str:
    """Key Vault names are global, 3-24 characters: a hash of project, stack and component."""
    digest = hashlib.sha256(f"{pulumi.get_project()}/{pulumi.get_stack()}/{name}".encode()).hexdigest()
    return f"kv{digest[:16]}"


def azurecli_kubeconfig(encoded: str) -> str:
    """AKS's user kubeconfig (base64, `format=exec`) with kubelogin signing in through the Azure CLI, the way
    `kubelogin convert-kubeconfig -l azurecli` rewrites it."""
    config = yaml.safe_load(base64.b64decode(encoded))
    for user in config.get("users") or []:
        exec_ = (user.get("user") or {}).get("exec")
        if not exec_:
            continue
        args = list(exec_.get("args") or [])
        server_id = args[args.index("--server-id") + 1] if "--server-id" in args else AKS_AAD_SERVER_ID
        exec_["args"] = ["get-token", "--login", KUBELOGIN_LOGIN, "--server-id", server_id]
        exec_.pop("env", None)
    return yaml.safe_dump(config, sort_keys=False)


def system_pool_profile(zones: Sequence[str], subnet_id: pulumi.Input[str], tags: dict[str, str]) -> dict:
    """The System pool inside the ManagedCluster, so the cluster has nodes for CoreDNS the moment it exists."""
    min_nodes, max_nodes = aks_system_pool_nodes(len(zones))
    return {
        "name": SYSTEM_POOL_NAME,
        "mode": "System",
        "vm_size": resolve("azure", "cpu").machine_type,
        "os_type": "Linux",
        "os_sku": "AzureLinux",
        "type": "VirtualMachineScaleSets",
        "availability_zones": list(zones) or None,  # none in a region without zones
        "vnet_subnet_id": subnet_id,
        "enable_auto_scaling": True,
        "min_count": min_nodes,
        "max_count": max_nodes,
        "count": min_nodes,
        "node_taints": [SYSTEM_TAINT],
        "node_labels": {"aiinfra.dev/pool": SYSTEM_POOL_NAME},
        "enable_encryption_at_host": True,
        "enable_node_public_ip": False,
        # Standard_D8s_v5 has no local disk to hold an ephemeral OS disk.
        "os_disk_type": "Managed",
        "os_disk_size_gb": 128,
        "upgrade_settings": {"max_surge": "33%"},
        "security_profile": {"ssh_access": "Disabled"},
        "tags": tags,
    }


def cluster_problems(name: str, args: ClusterArgs, zones: tuple[str, ...]) -> ArgProblems:
    problems = ArgProblems(name)
    problems.check(args.cloud == "azure", "cloud", f"{args.cloud!r} — this adapter builds Azure clusters")
    problems.check(bool(args.region), "region", "required on azure")
    region_zones = azure_region_zones(args.region or "")
    problems.check(
        not args.region or region_zones is not None,
        "region",
        f"{args.region!r} — not an Azure region the catalog lists ({AZURE_REGIONS_SOURCE}); check the spelling "
        "(programmatic names such as eastus, westeurope) or add it to aiinfra/core/catalog/data.py",
    )
    if region_zones == ():
        problems.check(
            not args.zones,
            "zones",
            f"{list(args.zones)} — {args.region} has no availability zones; remove zones (nodes go anywhere in it)",
        )
    for zone in args.zones:
        problems.check(zone in AZURE_ZONES, "zones", f"{zone!r} — Azure zones are {', '.join(AZURE_ZONES)}")
    if args.vpc_id:
        problems.check(
            len(args.subnet_ids) == 3,
            "subnet_ids",
            (
                f"{len(args.subnet_ids)} given — an existing VNet needs three subnet ids, in order: nodes (with a NAT "
                "gateway for egress), private endpoints, and a /28 or larger API server subnet delegated to "
                "Microsoft.ContainerService/managedClusters"
            ),
        )
    else:
        network_cidr_problems(problems, "network_cidr", args.network_cidr)
        problems.check(
            not args.private_dns_zone_ids,
            "private_dns_zone_ids",
            "needs vpc_id: a VNet made here has no zones linked to it yet",
        )
    seen: dict[str, str] = {}
    for pool in args.node_pools:
        pool_problems(problems, ("node_pools", pool.name), pool, zones)
        aks_name = agent_pool_name(pool.name)
        problems.check(
            aks_name not in seen,
            ("node_pools", pool.name, "name"),
            f"{pool.name!r} — becomes AKS pool {aks_name!r}, like {seen.get(aks_name)!r}; rename one",
        )
        seen.setdefault(aks_name, pool.name)
    return problems


class AksCluster(ClusterAdapter):
    """AKS control plane with its resource group, network (new or existing), identity, keys and logs."""

    provider: azure_provider.Provider
    resource_group: resources.ResourceGroup
    network: VirtualNetwork | None
    identity: managedidentity.UserAssignedIdentity
    keys: ClusterKeys
    workspace: operationalinsights.Workspace
    cluster: containerservice.ManagedCluster
    oidc_issuer_url: pulumi.Output[str]
    kubelet_identity_object_id: pulumi.Output[str]
    node_subnet_id: pulumi.Input[str]
    private_endpoint_subnet_id: pulumi.Input[str]
    private_network: PrivateNetwork
    software: ClusterSoftware | None
    """Built by `build_node_software`; None for a cluster of plain CPU pools."""

    def __init__(self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None):
        zones = tuple(args.zones) or azure_region_zones(args.region or "") or ()
        cluster_problems(name, args, zones).raise_if_any()  # before registering anything
        super().__init__("aiinfra:azure:AksCluster", name, None, opts)
        self.region: str = args.region  # type: ignore[assignment]  # checked above
        self.zones = zones
        self.kubernetes_version = args.kubernetes_version
        self.tags = merge_tags(args.tags)
        self.provider = azure_provider.Provider(
            f"{name}-provider", location=self.region, opts=pulumi.ResourceOptions(parent=self)
        )
        child = pulumi.ResourceOptions(parent=self, provider=self.provider)
        client = authorization.get_client_config_output(opts=pulumi.InvokeOutputOptions(provider=self.provider))
        subscription_id = client.subscription_id
        located = {"location": self.region, "tags": self.tags}

        self.resource_group = resources.ResourceGroup(f"{name}-rg", **located, opts=child)
        rg = self.resource_group.name

        if args.vpc_id:
            self.network = None
            self.vnet_id: pulumi.Input[str] = args.vpc_id
            self.node_subnet_id, self.private_endpoint_subnet_id, api_server_subnet_id = args.subnet_ids
        else:
            self.network = VirtualNetwork(
                f"{name}-network",
                VirtualNetworkArgs(
                    resource_group_name=rg, location=self.region, cidr=args.network_cidr, tags=self.tags
                ),
                child,
            )
            self.vnet_id = self.network.vnet.id
            self.node_subnet_id = self.network.node_subnet_id
            self.private_endpoint_subnet_id = self.network.private_endpoint_subnet_id
            api_server_subnet_id = self.network.api_server_subnet_id
        self.private_network = PrivateNetwork(
            region=self.region,
            subnet_id=self.private_endpoint_subnet_id,
            vnet_id=self.vnet_id,
            dns_zone_ids=dict(args.private_dns_zone_ids),
        )

        # The control plane's own identity: it must exist (and hold its grants) before the cluster, which
        # KMS requires and a system-assigned identity cannot do.
        self.identity = managedidentity.UserAssignedIdentity(
            f"{name}-identity", resource_group_name=rg, **located, opts=child
        )
        self.keys = ClusterKeys(
            f"{name}-keys",
            ClusterKeysArgs(
                resource_group_name=rg,
                location=self.region,
                tenant_id=client.tenant_id,
                subscription_id=subscription_id,
                vault_name=_vault_name(name),
                tags=self.tags,
            ),
            # protect is inherited: the vault, keys and disk encryption set are protected with it.
            pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(protect=args.protect_stateful)),
        )
        control_plane = self.identity.principal_id

        def grant(role_name: str, role: str, scope: pulumi.Input[str]) -> authorization.RoleAssignment:
            return assign(
                f"{name}-{role_name}",
                role=role,
                scope=scope,
                principal_id=control_plane,
                subscription_id=subscription_id,
                opts=child,
            )

        grants = [
            # Join nodes to the subnet (and its NAT gateway) and inject the API server.
            grant("nodes-subnet", "Network Contributor", self.node_subnet_id),
            grant("api-server-subnet", "Network Contributor", api_server_subnet_id),
            # KMS: wrap etcd's data keys, and reach the closed vault through a private endpoint AKS approves.
            grant("etcd-key-user", "Key Vault Crypto User", self.keys.etcd_key.id),
            grant("vault-private-link", "Key Vault Contributor", self.keys.vault.id),
            # Node disks reference the disk encryption set.
            grant("disk-encryption-reader", "Reader", self.keys.disk_encryption_set.id),
        ]

        self.workspace = operationalinsights.Workspace(
            f"{name}-logs",
            resource_group_name=rg,
            sku={"name": "PerGB2018"},
            retention_in_days=LOG_RETENTION_DAYS,
            **located,
            opts=child,
        )

        private = not args.public_access_cidrs
        self.cluster = containerservice.ManagedCluster(
            f"{name}-aks",
            resource_group_name=rg,
            **located,
            dns_prefix=_physical_name(name, 54),
            kubernetes_version=args.kubernetes_version,
            sku={"name": "Base", "tier": "Standard"},
            identity={
                "type": containerservice.ResourceIdentityType.USER_ASSIGNED,
                "user_assigned_identities": [self.identity.id],
            },
            enable_rbac=True,
            disable_local_accounts=True,
            aad_profile={"managed": True, "enable_azure_rbac": True, "tenant_id": client.tenant_id},
            api_server_access_profile={
                "enable_private_cluster": private,
                "enable_private_cluster_public_fqdn": False if private else None,
                "private_dns_zone": "system" if private else None,
                "authorized_ip_ranges": None if private else list(args.public_access_cidrs),
                # The API server gets an address in the VNet: it reaches the closed key vault privately.
                "enable_vnet_integration": True,
                "subnet_id": api_server_subnet_id,
            },
            oidc_issuer_profile={"enabled": True},
            security_profile={
                "workload_identity": {"enabled": True},
                "azure_key_vault_kms": {
                    "enabled": True,
                    "key_id": self.keys.etcd_key.key_uri_with_version,
                    "key_vault_network_access": "Private",
                    "key_vault_resource_id": self.keys.vault.id,
                },
                "image_cleaner": {"enabled": True, "interval_hours": IMAGE_CLEANER_INTERVAL_HOURS},
            },
            network_profile={
                "network_plugin": "azure",
                "network_plugin_mode": "overlay",
                "network_dataplane": "cilium",
                "network_policy": "cilium",
                "outbound_type": "userAssignedNATGateway",
                "load_balancer_sku": "standard",
                "pod_cidr": POD_CIDR,
                "service_cidr": SERVICE_CIDR,
                "dns_service_ip": DNS_SERVICE_IP,
            },
            auto_upgrade_profile={"upgrade_channel": "patch", "node_os_upgrade_channel": "NodeImage"},
            disk_encryption_set_id=self.keys.disk_encryption_set.id,
            # Nobody edits the node resource group by hand; AKS alone manages it.
            node_resource_group_profile={"restriction_level": "ReadOnly"},
            agent_pool_profiles=[
                cast(
                    "containerservice.ManagedClusterAgentPoolProfileArgsDict",
                    system_pool_profile(zones, self.node_subnet_id, self.tags),
                )
            ],
            opts=pulumi.ResourceOptions(
                parent=self,
                provider=self.provider,
                depends_on=[*grants, self.keys.disk_key_grant],
                # The cluster autoscaler owns the node count.
                ignore_changes=["agentPoolProfiles[0].count"],
            ),
        )

        monitor.DiagnosticSetting(
            f"{name}-diagnostics",
            resource_uri=self.cluster.id,
            workspace_id=self.workspace.id,
            log_analytics_destination_type="Dedicated",
            logs=[{"category": category, "enabled": True} for category in CONTROL_PLANE_LOGS],
            opts=child,
        )

        # Pulumi's own principal administers the cluster through Azure RBAC (there are no local accounts),
        # as an assignment that can be seen and removed.
        deployer_admin = assign(
            f"{name}-deployer-admin",
            role="Azure Kubernetes Service RBAC Cluster Admin",
            scope=self.cluster.id,
            principal_id=client.object_id,
            subscription_id=subscription_id,
            opts=child,
            service_principal=False,
        )

        credentials = containerservice.list_managed_cluster_user_credentials_output(
            resource_group_name=rg,
            resource_name=self.cluster.name,
            format="exec",
            opts=pulumi.InvokeOutputOptions(provider=self.provider),
        )
        # Through the admin role's id, every Kubernetes provider made from this kubeconfig (and so everything
        # it creates in the cluster) waits for the role: without local accounts there is no other way in.
        self.kubeconfig = pulumi.Output.secret(
            pulumi.Output.all(deployer_admin.id, credentials.kubeconfigs.apply(lambda configs: configs[0].value)).apply(
                lambda values: azurecli_kubeconfig(values[1])
            )
        )
        fqdn = self.cluster.private_fqdn if private else self.cluster.fqdn
        self.endpoint = fqdn.apply(lambda host: f"https://{host}:443")
        # With the OIDC issuer and a kubelet identity enabled, AKS always reports both.
        self.oidc_issuer_url = cast(
            "pulumi.Output[str]", self.cluster.oidc_issuer_profile.apply(lambda p: p.issuer_url if p else None)
        )
        self.kubelet_identity_object_id = cast(
            "pulumi.Output[str]",
            self.cluster.identity_profile.apply(
                lambda profile: profile["kubeletidentity"].object_id if profile else None
            ),
        )

        self._name = name
        self._node_pools = args.node_pools
        self.software = None

        self.register_outputs(
            {
                "clusterName": self.cluster.name,
                "resourceGroupName": rg,
                "endpoint": self.endpoint,
                "oidcIssuerUrl": self.oidc_issuer_url,
                "kubeletIdentityObjectId": self.kubelet_identity_object_id,
                "vnetId": self.vnet_id,
                "nodeSubnetId": self.node_subnet_id,
                "privateEndpointSubnetId": self.private_endpoint_subnet_id,
                "keyVaultId": self.keys.vault.id,
                "logAnalyticsWorkspaceId": self.workspace.id,
            }
        )

    def imposed_taints(self, pool: NodePoolArgs) -> tuple[Taint, ...]:
        return imposed_taints(pool)

    def build_node_software(self, kubernetes_provider: k8s.Provider, system_namespace: k8s.core.v1.Namespace) -> None:
        """GPU and Network Operators and the NVMe RAID0 DaemonSet, for the pools that need them."""
        if any(p.shape.is_gpu or p.shape.local_nvme_disks > 0 for p in self._node_pools):
            self.software = ClusterSoftware(
                f"{self._name}-software",
                ClusterSoftwareArgs(
                    node_pools=self._node_pools, provider=kubernetes_provider, system_namespace=system_namespace
                ),
                pulumi.ResourceOptions(parent=self),
            )

    def build_node_pool(self, name: str, args: NodePoolArgs, opts: pulumi.ResourceOptions) -> None:
        containerservice.AgentPool(
            f"{name}-pool",
            resource_group_name=self.resource_group.name,
            resource_name_=self.cluster.name,
            **agent_pool_args(
                args,
                cluster_zones=self.zones,
                kubernetes_version=self.kubernetes_version,
                vnet_subnet_id=self.node_subnet_id,
                tags=self.tags,
            ),
            opts=pulumi.ResourceOptions.merge(
                opts, pulumi.ResourceOptions(provider=self.provider, ignore_changes=["count"])
            ),
        )
