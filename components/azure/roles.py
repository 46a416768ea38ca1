"""Built-in Azure roles aiinfra assigns, each to one principal on one resource (never a subscription or a
resource group, never Owner or Contributor)."""

from __future__ import annotations

import pulumi
from pulumi_azure_native import authorization

# Built-in role definition ids (same in every tenant):
# https://learn.microsoft.com/azure/role-based-access-control/built-in-roles
ROLES = {
    "Network Contributor": "4d97b98b-1d4f-4787-a291-c67834d212e7",
    "Reader": "acdd72a7-3385-48ef-bd42-f606fba81ae7",
    "Key Vault Contributor": "f25e0fa2-a7c8-4377-a976-54943a77a395",
    "Key Vault Crypto User": "12338af0-0e69-4776-bea7-57ae8d297424",
    "Key Vault Crypto Service Encryption User": "e147488a-f6f5-4113-8e2d-b22465e65bf6",
    "Azure Kubernetes Service RBAC Cluster Admin": "b1ff04bb-8a4e-4dc4-8eb5-8693973ce19b",
    "AcrPull": "7f951dda-4ed3-4680-a7ca-43fe172d538d",
}


def role_definition_id(subscription_id: pulumi.Input[str], role: str) -> pulumi.Output[str]:
    return pulumi.Output.concat(
        "/subscriptions/", subscription_id, "/providers/Microsoft.Authorization/roleDefinitions/", ROLES[role]
    )


def assign(
    name: str,
    *,
    role: str,
    scope: pulumi.Input[str],
    principal_id: pulumi.Input[str],
    subscription_id: pulumi.Input[str],
    opts: pulumi.ResourceOptions,
    service_principal: bool = True,
) -> authorization.RoleAssignment:
    """Grant `role` to `principal_id` on exactly `scope` (a resource id).

    `service_principal` (managed identities) lets Azure skip the directory lookup that fails for a
    principal created moments ago; the deployer's own principal may be a user, so it is left unset there.
    """
    return authorization.RoleAssignment(
        name,
        role_definition_id=role_definition_id(subscription_id, role),
        principal_id=principal_id,
        principal_type="ServicePrincipal" if service_principal else None,
        scope=scope,
        description=f"aiinfra: {role}",
        opts=opts,
    )
