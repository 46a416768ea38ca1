"""The Azure adapter of `DataLake`: an ADLS Gen2 storage account (hierarchical namespace) encrypted with a
customer-managed key in a purge-protected Key Vault of its own, HTTPS and TLS 1.2 only, no public blob access,
no Shared Key (Entra ID only), closed to every public network (default deny, public network access disabled)
and reached through blob and dfs private endpoints, with one container per zone, soft delete and lifecycle
tiering of `raw`.

Grants: ADLS POSIX ACLs are not Pulumi resources, so a grant is an Azure role assignment on each zone container
it covers, with an ABAC condition limiting blob reads, listings, writes and deletes to the path inside the
container. The roles are two custom roles of the lake made of blob data actions only: the built-in Storage Blob
Data Reader/Contributor also carry management actions (container delete and write, user delegation keys for SAS)
that conditions cannot restrict, so a "write" grant would let a workload delete a whole zone. Renames
(`blobs/move/action`) are not granted: the condition can check only the source path.
"""

from __future__ import annotations

import uuid
from typing import Any, cast

import pulumi
from pulumi_azure_native import authorization, keyvault, managedidentity, network, resources, storage
from pulumi_azure_native import provider as azure_provider

from aiinfra.core.vocab import Access
from components.azure.encryption import rotation_policy, vault_properties
from components.azure.network import endpoints_in_networks
from components.azure.roles import assign
from components.contracts import (
    ADLS_PRIVATE_ZONES,
    DataLakeArgs,
    LakeAdapter,
    LakeGrant,
    PrivateNetwork,
    adls_account_name,
    split_zone,
    stack_hashed_name,
)

KEY_BITS = 3072
BLOBS = "Microsoft.Storage/storageAccounts/blobServices/containers/blobs"
READ_DATA_ACTIONS = (f"{BLOBS}/read",)
WRITE_DATA_ACTIONS = (f"{BLOBS}/read", f"{BLOBS}/write", f"{BLOBS}/add/action", f"{BLOBS}/delete")
DATA_ACTIONS = {"read": READ_DATA_ACTIONS, "write": WRITE_DATA_ACTIONS}
CONDITION_VERSION = "2.0"
VAULT_RETENTION_DAYS = 90


def adls_grant_condition(*, container: str, path: str, access: str) -> str | None:
    """The ABAC condition of a grant on one zone container: reads of blobs under `path`, listings whose prefix
    lies under `path` and (write) writes, appends and deletes of blobs under `path`; None for a whole container.
    The forms follow Microsoft's "Example Azure role assignment conditions for Blob Storage" (containers with a
    path)."""
    if access not in DATA_ACTIONS:
        raise ValueError(f"access {access!r}: read or write")
    if not path:
        return None
    in_container = (
        f"@Resource[Microsoft.Storage/storageAccounts/blobServices/containers:name] StringEquals '{container}'"
    )

    def only(actions: str, attribute: str) -> str:
        return f"(\n (\n  !({actions})\n )\n OR\n (\n  {in_container}\n  AND\n  {attribute}\n )\n)"

    clauses = [
        only(
            f"ActionMatches{{'{BLOBS}/read'}} AND NOT SubOperationMatches{{'Blob.List'}}",
            f"@Resource[{BLOBS}:path] StringStartsWith '{path}'",
        ),
        only(
            f"ActionMatches{{'{BLOBS}/read'}} AND SubOperationMatches{{'Blob.List'}}",
            f"@Request[{BLOBS}:prefix] StringStartsWith '{path}'",
        ),
    ]
    if access == "write":
        writes = " OR ".join(f"ActionMatches{{'{action}'}}" for action in WRITE_DATA_ACTIONS[1:])
        clauses.append(only(writes, f"@Resource[{BLOBS}:path] StringStartsWith '{path}'"))
    return "\nAND\n".join(clauses)


def lifecycle_policy(args: DataLakeArgs) -> dict[str, Any]:
    rules: list[dict[str, Any]] = []
    if "raw" in args.zones:
        rules.append(
            {
                "name": "tier-raw",
                "type": "Lifecycle",
                "enabled": True,
                "definition": {
                    "filters": {"blob_types": ["blockBlob"], "prefix_match": ["raw/"]},
                    "actions": {
                        "base_blob": {
                            "tier_to_cool": {"days_after_modification_greater_than": args.raw_transition_days},
                            "tier_to_cold": {"days_after_modification_greater_than": args.raw_archive_days},
                        }
                    },
                },
            }
        )
    return {"rules": rules}


class AdlsLake(LakeAdapter):
    """Storage account, its vault and key, zone containers, private endpoints, and the lake's two data roles."""

    provider: azure_provider.Provider
    resource_group: resources.ResourceGroup
    vault: keyvault.Vault
    key: keyvault.Key
    account: storage.StorageAccount
    containers: dict[str, storage.BlobContainer]
    private_endpoints: dict[str, network.PrivateEndpoint]
    """`blob`, `dfs` for the first network; `blob-<i>`, `dfs-<i>` for the i-th."""
    linked_networks: tuple[PrivateNetwork, ...]
    bucket_name: pulumi.Output[str]
    url: pulumi.Output[str]
    zone_urls: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: DataLakeArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aiinfra:azure:AdlsLake", name, None, opts)
        self._name = name
        region: str = args.region  # type: ignore[assignment]  # checked by the facade
        tags = dict(args.tags)
        self.provider = azure_provider.Provider(
            f"{name}-provider", location=region, opts=pulumi.ResourceOptions(parent=self)
        )
        child = pulumi.ResourceOptions(parent=self, provider=self.provider)
        stateful = pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(protect=args.protect))
        client = authorization.get_client_config_output(opts=pulumi.InvokeOutputOptions(provider=self.provider))
        self.subscription_id = client.subscription_id
        located = {"location": region, "tags": tags}

        self.resource_group = resources.ResourceGroup(f"{name}-rg", **located, opts=stateful)
        rg = self.resource_group.name

        # The account reads its key as this identity: a user-assigned one exists (with its grant) before the
        # account does, which customer-managed keys at creation require.
        key_user = managedidentity.UserAssignedIdentity(
            f"{name}-storage-identity", resource_group_name=rg, **located, opts=child
        )
        self.vault = keyvault.Vault(
            f"{name}-vault",
            resource_group_name=rg,
            vault_name=stack_hashed_name(name, "kvl", 24),
            properties=vault_properties(client.tenant_id, VAULT_RETENTION_DAYS),
            **located,
            opts=stateful,
        )
        self.key = keyvault.Key(
            f"{name}-key",
            resource_group_name=rg,
            vault_name=self.vault.name,
            key_name="lake",
            properties=cast(
                "keyvault.KeyPropertiesArgsDict",
                {
                    "kty": "RSA",
                    "key_size": KEY_BITS,
                    "attributes": {"enabled": True, "exportable": False},
                    "rotation_policy": rotation_policy(),
                },
            ),
            tags=tags,
            opts=stateful,
        )
        key_grant = assign(
            f"{name}-key-user",
            role="Key Vault Crypto Service Encryption User",
            scope=self.key.id,
            principal_id=key_user.principal_id,
            subscription_id=self.subscription_id,
            opts=child,
        )

        self.account = storage.StorageAccount(
            f"{name}-storage",
            resource_group_name=rg,
            account_name=args.bucket_name or adls_account_name(name),
            kind="StorageV2",
            sku={"name": args.sku},
            is_hns_enabled=True,
            enable_https_traffic_only=True,
            minimum_tls_version="TLS1_2",
            allow_blob_public_access=False,
            allow_shared_key_access=False,
            default_to_o_auth_authentication=True,
            allow_cross_tenant_replication=False,
            is_local_user_enabled=False,
            is_sftp_enabled=False,
            public_network_access="Disabled",
            network_rule_set=cast(
                "storage.NetworkRuleSetArgsDict",
                {"default_action": "Deny", "bypass": "None", "ip_rules": [], "virtual_network_rules": []},
            ),
            identity={"type": "UserAssigned", "user_assigned_identities": [key_user.id]},
            encryption={
                "key_source": "Microsoft.Keyvault",
                # No key version: the account follows the key's rotation on its own.
                "key_vault_properties": {
                    "key_name": self.key.name,
                    "key_vault_uri": self.vault.properties.apply(lambda p: p.vault_uri),
                },
                "encryption_identity": {"encryption_user_assigned_identity": key_user.id},
                "require_infrastructure_encryption": True,
                "services": {
                    "blob": {"enabled": True, "key_type": "Account"},
                    "file": {"enabled": True, "key_type": "Account"},
                },
            },
            **located,
            opts=pulumi.ResourceOptions.merge(stateful, pulumi.ResourceOptions(depends_on=[key_grant])),
        )
        account_name = self.account.name
        storage.BlobServiceProperties(
            f"{name}-blob-service",
            resource_group_name=rg,
            account_name=account_name,
            blob_services_name="default",
            delete_retention_policy={"enabled": True, "days": args.soft_delete_days},
            container_delete_retention_policy={"enabled": True, "days": args.soft_delete_days},
            opts=child,
        )
        self.containers = {
            zone: storage.BlobContainer(
                f"{name}-{zone}",
                resource_group_name=rg,
                account_name=account_name,
                container_name=zone,
                public_access=storage.PublicAccess.NONE,
                opts=stateful,
            )
            for zone in args.zones
        }
        if "raw" in args.zones:
            storage.ManagementPolicy(
                f"{name}-lifecycle",
                resource_group_name=rg,
                account_name=account_name,
                management_policy_name="default",
                policy=cast("storage.ManagementPolicySchemaArgsDict", lifecycle_policy(args)),
                opts=child,
            )
        self.private_endpoints, self.linked_networks = endpoints_in_networks(
            name,
            args.private_networks,
            target_id=self.account.id,
            groups={sub: (sub, zone) for sub, zone in ADLS_PRIVATE_ZONES.items()},
            resource_group_name=rg,
            tags=tags,
            opts=child,
        )

        # The lake's data roles: blob data actions only, assignable in the lake's resource group.
        self._role_guids = {
            access: str(uuid.uuid5(uuid.NAMESPACE_URL, stack_hashed_name(name, access, 40))) for access in DATA_ACTIONS
        }
        self._roles = {
            access: authorization.RoleDefinition(
                f"{name}-{access}-role",
                role_definition_id=self._role_guids[access],
                role_name=f"aiinfra lake {access} ({pulumi.get_project()}/{pulumi.get_stack()}/{name})",
                description=f"aiinfra: {access} blobs of lake {name}; role assignments add the path condition",
                scope=self.resource_group.id,
                assignable_scopes=[self.resource_group.id],
                permissions=[{"actions": [], "not_actions": [], "data_actions": list(actions), "not_data_actions": []}],
                opts=child,
            )
            for access, actions in DATA_ACTIONS.items()
        }

        self.bucket_name = account_name
        self.url = account_name.apply(lambda a: f"https://{a}.dfs.core.windows.net/")
        self.zone_urls = {
            zone: account_name.apply(lambda a, z=zone: f"abfss://{z}@{a}.dfs.core.windows.net/") for zone in args.zones
        }
        self.register_outputs(
            {"storageAccount": account_name, "keyVaultId": self.vault.id, "keyId": self.key.id, "url": self.url}
        )

    def build_grant(
        self,
        name: str,
        identity: Any,
        access: Access,
        prefix: str,
        paths: tuple[str, ...],
        opts: pulumi.ResourceOptions,
    ) -> LakeGrant:
        """One conditional role assignment of the lake's `access` role per zone container the grant covers."""
        role_definition_id = pulumi.Output.concat(
            "/subscriptions/",
            self.subscription_id,
            "/providers/Microsoft.Authorization/roleDefinitions/",
            self._role_guids[access],
        )
        made, documents = [], []
        for path in paths:
            zone, inner = split_zone(path)
            container = self.containers[zone]
            condition = adls_grant_condition(container=zone, path=inner, access=access)
            assignment = authorization.RoleAssignment(
                name if len(paths) == 1 else f"{name}-{zone}",
                role_definition_id=role_definition_id,
                principal_id=identity.binding.principal_id,
                principal_type="ServicePrincipal",
                scope=container.id,
                condition=condition,
                condition_version=CONDITION_VERSION if condition else None,
                description=f"aiinfra lake grant: {access} {path} of lake {self._name}",
                opts=pulumi.ResourceOptions.merge(
                    opts, pulumi.ResourceOptions(provider=self.provider, depends_on=[self._roles[access]])
                ),
            )
            made.append(assignment)
            documents.append(
                pulumi.Output.all(container.id, role_definition_id, identity.binding.principal_id).apply(
                    lambda v, c=condition: {
                        "scope": v[0],
                        "roleDefinitionId": v[1],
                        "principalId": v[2],
                        "condition": c,
                        "conditionVersion": CONDITION_VERSION if c else None,
                    }
                )
            )
        return LakeGrant(
            access=access, prefix=prefix, paths=paths, resources=tuple(made), document=pulumi.Output.all(*documents)
        )
