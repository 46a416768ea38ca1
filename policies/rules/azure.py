"""Azure rules (azure-native): AKS clusters and agent pools, storage accounts, Key Vaults."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pulumi_policy import ResourceValidationArgs, Severity

from .common import (
    CIS_AZURE,
    UNKNOWN,
    Control,
    checkov_control,
    get,
    is_false,
    is_true,
    items,
    not_true,
    resource_rule,
    strings,
)
from .standards import aks

DOMAIN = "azure"
MANAGED_CLUSTER = "azure-native:containerservice:ManagedCluster"
AGENT_POOL = "azure-native:containerservice:AgentPool"
STORAGE_ACCOUNT = "azure-native:storage:StorageAccount"
SECURE_TLS = ("TLS1_2", "TLS1_3")


def _storage(reference: str, title: str, *checkov: str) -> Control:
    return Control(*CIS_AZURE, reference, title, checkov)


@resource_rule(
    name="azure-aks-local-accounts-disabled",
    description="AKS clusters disable local accounts, so every identity comes from Entra ID.",
    types=[MANAGED_CLUSTER],
    severity=Severity.HIGH,
    remediation="Set disable_local_accounts=True with aad_profile managed=True and enable_azure_rbac=True.",
    control=checkov_control("CKV_AZURE_141", "Ensure AKS local admin account is disabled"),
    domain=DOMAIN,
    standards=(aks("5.5.1"),),
)
def aks_local_accounts_disabled(props: dict[str, Any], _args: ResourceValidationArgs) -> Iterator[str]:
    if not_true(get(props, "disableLocalAccounts")):
        yield "local accounts (the static cluster-admin kubeconfig) are enabled"


@resource_rule(
    name="azure-aks-rbac",
    description="AKS clusters authorize with Kubernetes RBAC.",
    types=[MANAGED_CLUSTER],
    severity=Severity.HIGH,
    remediation="Leave enable_rbac at True (its default) and add aad_profile enable_azure_rbac=True.",
    control=checkov_control("CKV_AZURE_5", "Ensure RBAC is enabled on AKS clusters"),
    domain=DOMAIN,
)
def aks_rbac(props: dict[str, Any], _args: ResourceValidationArgs) -> Iterator[str]:
    if is_false(get(props, "enableRBAC")):
        yield "Kubernetes RBAC is disabled"


@resource_rule(
    name="azure-aks-private-or-authorized-ips",
    description="The AKS API server is private, or public only to authorized IP ranges (never 0.0.0.0/0).",
    types=[MANAGED_CLUSTER],
    severity=Severity.HIGH,
    remediation="Set api_server_access_profile enable_private_cluster=True, or authorized_ip_ranges to the "
    "operator CIDRs.",
    control=checkov_control("CKV_AZURE_6", "Ensure AKS has an API Server Authorized IP Ranges enabled"),
    domain=DOMAIN,
    standards=(aks("5.4.1"),),
)
def aks_private_or_authorized_ips(props: dict[str, Any], _args: ResourceValidationArgs) -> Iterator[str]:
    profile = get(props, "apiServerAccessProfile")
    private = get(profile, "enablePrivateCluster")
    ranges = get(profile, "authorizedIPRanges")
    if UNKNOWN in (profile, private, ranges) or is_true(private):
        return
    known = strings(ranges)
    if not known or "0.0.0.0/0" in known:
        yield "the API server is public to every address"


@resource_rule(
    name="azure-aks-secrets-encryption",
    description="AKS clusters encrypt Kubernetes secrets in etcd with a Key Vault key (KMS etcd encryption).",
    types=[MANAGED_CLUSTER],
    severity=Severity.HIGH,
    remediation="Set security_profile azure_key_vault_kms enabled=True with key_id (a Key Vault key with rotation) "
    "and key_vault_network_access='Private'.",
    control=aks("5.3.1"),
    domain=DOMAIN,
)
def aks_secrets_encryption(props: dict[str, Any], _args: ResourceValidationArgs) -> Iterator[str]:
    kms = get(props, "securityProfile", "azureKeyVaultKms")
    enabled = get(kms, "enabled")
    if UNKNOWN not in (kms, enabled) and not is_true(enabled):
        yield "Kubernetes secrets are not encrypted with a Key Vault key (azure_key_vault_kms is not enabled)"
    elif is_true(enabled) and get(kms, "keyId") in (None, ""):
        yield "KMS etcd encryption names no Key Vault key"


@resource_rule(
    name="azure-aks-network-policy",
    description="AKS clusters enforce Kubernetes NetworkPolicy (Azure, Calico or Cilium network policy).",
    types=[MANAGED_CLUSTER],
    severity=Severity.MEDIUM,
    remediation="Set network_profile network_policy='cilium' (with network_dataplane='cilium'), 'azure' or 'calico'.",
    control=aks("5.4.4"),
    domain=DOMAIN,
)
def aks_network_policy(props: dict[str, Any], _args: ResourceValidationArgs) -> Iterator[str]:
    policy = get(props, "networkProfile", "networkPolicy")
    if policy in (None, "none", ""):
        yield "NetworkPolicy is not enforced (network_profile network_policy is unset)"


@resource_rule(
    name="azure-aks-azure-rbac",
    description="AKS clusters authenticate with Entra ID and authorize Kubernetes access with Azure RBAC.",
    types=[MANAGED_CLUSTER],
    severity=Severity.MEDIUM,
    remediation="Set aad_profile managed=True and enable_azure_rbac=True, and grant the Azure Kubernetes Service "
    "RBAC roles to groups.",
    control=aks("5.5.2"),
    domain=DOMAIN,
)
def aks_azure_rbac(props: dict[str, Any], _args: ResourceValidationArgs) -> Iterator[str]:
    profile = get(props, "aadProfile")
    if profile is UNKNOWN:
        return
    if profile is None:
        yield "the cluster is not integrated with Entra ID (no aad_profile)"
    elif not_true(get(profile, "enableAzureRBAC")):
        yield "Kubernetes authorization does not use Azure RBAC (aad_profile enable_azure_rbac is not true)"


@resource_rule(
    name="azure-aks-no-node-public-ip",
    description="AKS nodes get no public IP address of their own; they reach out through the cluster's NAT.",
    types=[MANAGED_CLUSTER, AGENT_POOL],
    severity=Severity.HIGH,
    remediation="Remove enable_node_public_ip (or set it False) on every agent pool.",
    control=aks("5.4.3"),
    domain=DOMAIN,
)
def aks_no_node_public_ip(props: dict[str, Any], args: ResourceValidationArgs) -> Iterator[str]:
    pools = [props] if args.resource_type == AGENT_POOL else items(get(props, "agentPoolProfiles"))
    for pool in pools:
        if is_true(get(pool, "enableNodePublicIP")):
            yield f"agent pool {get(pool, 'name') or args.name} gives its nodes public IP addresses"


@resource_rule(
    name="azure-aks-encryption-at-host",
    description="AKS node pools encrypt temp disks, caches and OS/data disk flows at the VM host.",
    types=[MANAGED_CLUSTER, AGENT_POOL],
    severity=Severity.MEDIUM,
    remediation="Set enable_encryption_at_host=True on every agent pool (register the EncryptionAtHost feature).",
    control=checkov_control(
        "CKV_AZURE_227",
        "Ensure that the AKS cluster encrypt temp disks, caches, and data flows between Compute and Storage resources",
    ),
    domain=DOMAIN,
)
def aks_encryption_at_host(props: dict[str, Any], args: ResourceValidationArgs) -> Iterator[str]:
    pools = [props] if args.resource_type == AGENT_POOL else items(get(props, "agentPoolProfiles"))
    for pool in pools:
        if not_true(get(pool, "enableEncryptionAtHost")):
            yield f"agent pool {get(pool, 'name') or args.name} does not encrypt at host"


@resource_rule(
    name="azure-storage-https-only",
    description="Storage accounts accept HTTPS requests only.",
    types=[STORAGE_ACCOUNT],
    severity=Severity.HIGH,
    remediation="Leave enable_https_traffic_only at True (its default).",
    control=_storage("3.1", "Ensure that 'Secure transfer required' is set to 'Enabled'", "CKV_AZURE_3"),
    domain=DOMAIN,
)
def storage_https_only(props: dict[str, Any], _args: ResourceValidationArgs) -> Iterator[str]:
    if is_false(get(props, "enableHttpsTrafficOnly")):
        yield "plain HTTP requests are accepted"


@resource_rule(
    name="azure-storage-min-tls12",
    description="Storage accounts refuse TLS versions older than 1.2.",
    types=[STORAGE_ACCOUNT],
    severity=Severity.MEDIUM,
    remediation="Set minimum_tls_version='TLS1_2'.",
    control=_storage(
        "3.15", "Ensure the 'Minimum TLS version' for storage accounts is set to 'Version 1.2'", "CKV_AZURE_44"
    ),
    domain=DOMAIN,
)
def storage_min_tls12(props: dict[str, Any], _args: ResourceValidationArgs) -> Iterator[str]:
    version = get(props, "minimumTlsVersion")
    if version not in (*SECURE_TLS, UNKNOWN):
        yield f"minimum TLS version is {version or 'unset (the account default may be TLS 1.0)'}"


@resource_rule(
    name="azure-storage-no-public-blob",
    description="Storage accounts forbid anonymous (public) blob access.",
    types=[STORAGE_ACCOUNT],
    severity=Severity.CRITICAL,
    remediation="Set allow_blob_public_access=False.",
    control=_storage(
        "3.7",
        "Ensure that 'Public access level' is disabled for storage accounts with blob containers",
        "CKV_AZURE_190",
    ),
    domain=DOMAIN,
)
def storage_no_public_blob(props: dict[str, Any], _args: ResourceValidationArgs) -> Iterator[str]:
    allowed = get(props, "allowBlobPublicAccess")
    if allowed is None or is_true(allowed):
        yield "containers may be made public (allow_blob_public_access is not False)"


@resource_rule(
    name="azure-storage-no-shared-key",
    description="Storage accounts refuse Shared Key (account key) authorization; clients use Entra ID.",
    types=[STORAGE_ACCOUNT],
    severity=Severity.HIGH,
    remediation="Set allow_shared_key_access=False and grant data roles to managed identities.",
    control=checkov_control("CKV2_AZURE_40", "Ensure storage account is not configured with Shared Key authorization"),
    domain=DOMAIN,
)
def storage_no_shared_key(props: dict[str, Any], _args: ResourceValidationArgs) -> Iterator[str]:
    allowed = get(props, "allowSharedKeyAccess")
    if allowed is None or is_true(allowed):
        yield "Shared Key (account key) authorization is allowed"


@resource_rule(
    name="azure-storage-default-deny",
    description="Storage account firewalls deny by default and allow only listed networks.",
    types=[STORAGE_ACCOUNT],
    severity=Severity.HIGH,
    remediation="Set network_rule_set default_action='Deny' with the cluster subnets as virtual_network_rules "
    "(or public_network_access='Disabled' with private endpoints).",
    control=_storage("3.8", "Ensure Default Network Access Rule for Storage Accounts is Set to Deny", "CKV_AZURE_35"),
    domain=DOMAIN,
)
def storage_default_deny(props: dict[str, Any], _args: ResourceValidationArgs) -> Iterator[str]:
    if get(props, "publicNetworkAccess") == "Disabled":
        return
    action = get(props, "networkRuleSet", "defaultAction")
    if action not in ("Deny", UNKNOWN):
        yield f"the firewall's default action is {action or 'Allow (unset)'}"


@resource_rule(
    name="azure-keyvault-purge-protection",
    description="Key Vaults have purge protection, so deleted keys cannot be destroyed before retention ends.",
    types=["azure-native:keyvault:Vault"],
    severity=Severity.HIGH,
    remediation="Set properties enable_purge_protection=True (it cannot be turned off again).",
    control=Control(*CIS_AZURE, "8.5", "Ensure the Key Vault is Recoverable", ("CKV_AZURE_110", "CKV_AZURE_42")),
    domain=DOMAIN,
)
def keyvault_purge_protection(props: dict[str, Any], _args: ResourceValidationArgs) -> Iterator[str]:
    if not_true(get(props, "properties", "enablePurgeProtection")):
        yield "purge protection is off"


CONTAINER_REGISTRY = "azure-native:containerregistry:Registry"


@resource_rule(
    name="azure-acr-admin-disabled",
    description="Container registries have no admin user: pushes and pulls authenticate with Entra ID identities.",
    types=[CONTAINER_REGISTRY],
    severity=Severity.HIGH,
    remediation="Set admin_user_enabled=False and grant AcrPull/AcrPush roles instead; ImageRegistry does.",
    control=checkov_control("CKV_AZURE_137", "Ensure ACR admin account is disabled"),
    domain=DOMAIN,
)
def acr_admin_disabled(props: dict[str, Any], _args: ResourceValidationArgs) -> Iterator[str]:
    if is_true(get(props, "adminUserEnabled")):
        yield "the admin user is enabled: its shared password pushes and pulls everything"


@resource_rule(
    name="azure-acr-no-anonymous-pull",
    description="Container registries refuse unauthenticated pulls.",
    types=[CONTAINER_REGISTRY],
    severity=Severity.HIGH,
    remediation="Set anonymous_pull_enabled=False; ImageRegistry does.",
    control=checkov_control("CKV_AZURE_138", "Ensures that ACR disables anonymous pulling of images"),
    domain=DOMAIN,
)
def acr_no_anonymous_pull(props: dict[str, Any], _args: ResourceValidationArgs) -> Iterator[str]:
    if is_true(get(props, "anonymousPullEnabled")):
        yield "anyone on the network can pull its images"


@resource_rule(
    name="azure-acr-private",
    description="Container registries are closed to the internet: public network access is off, or it denies "
    "every address but the listed ones.",
    types=[CONTAINER_REGISTRY],
    severity=Severity.HIGH,
    remediation="Set public_network_access='Disabled' and reach the registry through a private endpoint, or "
    "network_rule_set default_action 'Deny' with the pushing machines' ip_rules (ImageRegistry's push_cidrs).",
    control=checkov_control("CKV_AZURE_139", "Ensure ACR set to disable public networking"),
    domain=DOMAIN,
)
def acr_private(props: dict[str, Any], _args: ResourceValidationArgs) -> Iterator[str]:
    access, default = get(props, "publicNetworkAccess"), get(props, "networkRuleSet", "defaultAction")
    if access is UNKNOWN or default is UNKNOWN or access == "Disabled":
        return
    if default != "Deny":
        yield "public network access is on and allows every address"


POLICIES = [
    aks_local_accounts_disabled,
    aks_rbac,
    aks_private_or_authorized_ips,
    aks_secrets_encryption,
    aks_network_policy,
    aks_azure_rbac,
    aks_no_node_public_ip,
    aks_encryption_at_host,
    storage_https_only,
    storage_min_tls12,
    storage_no_public_blob,
    storage_no_shared_key,
    storage_default_deny,
    keyvault_purge_protection,
    acr_admin_disabled,
    acr_no_anonymous_pull,
    acr_private,
]
