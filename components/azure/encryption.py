"""Customer-managed keys for an AKS cluster: a purge-protected, RBAC-authorised, network-closed Key Vault
holding a rotating key for etcd (KMS) and one for node disks, and the disk encryption set that uses it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import cast

import pulumi
from pulumi_azure_native import compute, keyvault

from components.azure.roles import assign
from components.common import ArgProblems, merge_tags

ROTATE_AFTER = "P1Y"
"""Key Vault makes a new key version a year after the last one (ISO 8601 duration)."""
KEY_EXPIRES_AFTER = "P2Y"
NOTIFY_BEFORE_EXPIRY = "P30D"
ETCD_KEY_BITS = 2048
"""The size the AKS KMS documentation creates its key with."""
DISK_KEY_BITS = 3072
"""Disk encryption sets accept RSA 2048, 3072 and 4096."""


def vault_properties(tenant_id: pulumi.Input[str], retention_days: int) -> keyvault.VaultPropertiesArgsDict:
    """A Key Vault closed to every network but trusted Azure services (disk encryption, storage) and private
    endpoints, authorized by Azure RBAC only (never access policies), purge-protected, used for no deployment."""
    return cast(
        "keyvault.VaultPropertiesArgsDict",
        {
            "tenant_id": tenant_id,
            "sku": {"family": "A", "name": "standard"},
            "enable_rbac_authorization": True,
            "enable_soft_delete": True,
            "soft_delete_retention_in_days": retention_days,
            "enable_purge_protection": True,
            "network_acls": {"default_action": "Deny", "bypass": "AzureServices", "ip_rules": []},
            "enabled_for_deployment": False,
            "enabled_for_template_deployment": False,
            "enabled_for_disk_encryption": False,
        },
    )


def rotation_policy() -> dict:
    return {
        "attributes": {"expiry_time": KEY_EXPIRES_AFTER},
        "lifetime_actions": [
            {"trigger": {"time_after_create": ROTATE_AFTER}, "action": {"type": "rotate"}},
            {"trigger": {"time_before_expiry": NOTIFY_BEFORE_EXPIRY}, "action": {"type": "notify"}},
        ],
    }


@dataclass(frozen=True, kw_only=True)
class ClusterKeysArgs:
    resource_group_name: pulumi.Input[str]
    """Resource group of the vault and the disk encryption set."""
    location: str
    """Azure region."""
    tenant_id: pulumi.Input[str]
    """Entra tenant that authorises access to the vault."""
    subscription_id: pulumi.Input[str]
    """Subscription of the role definitions granted."""
    vault_name: str
    """Globally unique vault name, 3-24 letters, digits and hyphens. With purge protection a deleted vault
    keeps its name for `soft_delete_retention_days`."""
    soft_delete_retention_days: int = 90
    """Days a deleted vault or key can be recovered (7-90). Defaults to 90."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags merged into the vault, keys and disk encryption set."""


class ClusterKeys(pulumi.ComponentResource):
    """Key Vault, etcd and disk keys, and a disk encryption set allowed to use the disk key."""

    vault: keyvault.Vault
    etcd_key: keyvault.Key
    disk_key: keyvault.Key
    disk_encryption_set: compute.DiskEncryptionSet
    disk_key_grant: pulumi.Resource

    def __init__(self, name: str, args: ClusterKeysArgs, opts: pulumi.ResourceOptions | None = None):
        problems = ArgProblems(name)
        problems.check(7 <= args.soft_delete_retention_days <= 90, "soft_delete_retention_days", "must be 7 to 90 days")
        problems.check(3 <= len(args.vault_name) <= 24, "vault_name", f"{args.vault_name!r} — 3 to 24 characters")
        problems.raise_if_any()
        super().__init__("aiinfra:azure:ClusterKeys", name, None, opts)
        tags = merge_tags(args.tags)
        child = pulumi.ResourceOptions(parent=self)

        self.vault = keyvault.Vault(
            f"{name}-vault",
            resource_group_name=args.resource_group_name,
            location=args.location,
            vault_name=args.vault_name,
            properties=vault_properties(args.tenant_id, args.soft_delete_retention_days),
            tags=tags,
            opts=child,
        )
        self.etcd_key = self._key(f"{name}-etcd", "etcd", ETCD_KEY_BITS, args.resource_group_name, tags)
        self.disk_key = self._key(f"{name}-disk", "disk", DISK_KEY_BITS, args.resource_group_name, tags)

        self.disk_encryption_set = compute.DiskEncryptionSet(
            f"{name}-des",
            resource_group_name=args.resource_group_name,
            location=args.location,
            identity={"type": "SystemAssigned"},
            encryption_type="EncryptionAtRestWithCustomerKey",
            # A version-less key URL plus this flag: disks follow the key's rotation on their own.
            active_key={"key_url": self.disk_key.key_uri, "source_vault": {"id": self.vault.id}},
            rotation_to_latest_key_version_enabled=True,
            tags=tags,
            opts=child,
        )
        self.disk_key_grant = assign(
            f"{name}-des-key-user",
            role="Key Vault Crypto Service Encryption User",
            scope=self.disk_key.id,
            # A system-assigned identity always has a principal id.
            principal_id=cast(
                "pulumi.Output[str]", self.disk_encryption_set.identity.apply(lambda i: i.principal_id if i else None)
            ),
            subscription_id=args.subscription_id,
            opts=child,
        )
        self.register_outputs(
            {
                "vaultId": self.vault.id,
                "etcdKeyId": self.etcd_key.key_uri_with_version,
                "diskEncryptionSetId": self.disk_encryption_set.id,
            }
        )

    def _key(
        self, name: str, key_name: str, bits: int, resource_group_name: pulumi.Input[str], tags: dict
    ) -> keyvault.Key:
        return keyvault.Key(
            name,
            resource_group_name=resource_group_name,
            vault_name=self.vault.name,
            key_name=key_name,
            properties=cast(
                "keyvault.KeyPropertiesArgsDict",
                {
                    "kty": "RSA",
                    "key_size": bits,
                    "attributes": {"enabled": True, "exportable": False},
                    "rotation_policy": rotation_policy(),
                },
            ),
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self),
        )
