"""Azure half of `WorkloadIdentity`: a user-assigned managed identity that exactly one Kubernetes service account
of one AKS cluster may act as, through a federated identity credential on the cluster's OIDC issuer (AKS
workload identity). The identity holds no roles of its own; `DataLake.grant` adds conditional role
assignments for it."""

from __future__ import annotations

from typing import cast

import pulumi
from pulumi_azure_native import managedidentity

from components.azure.aks import AksCluster
from components.common import merge_tags
from components.contracts import IdentityBinding, IdentityBindingArgs
from components.kubernetes.meta import kubernetes_subject

TOKEN_EXCHANGE_AUDIENCE = "api://AzureADTokenExchange"
"""The audience AKS workload identity's projected tokens carry (and Entra ID accepts for federation)."""
CLIENT_ID_ANNOTATION = "azure.workload.identity/client-id"
USE_LABEL = "azure.workload.identity/use"


class AzureWorkloadIdentity(IdentityBinding):
    """A managed identity federated with one Kubernetes service account."""

    identity: managedidentity.UserAssignedIdentity
    credential: managedidentity.FederatedIdentityCredential
    client_id: pulumi.Output[str]
    principal_id: pulumi.Output[str]

    def __init__(self, name: str, args: IdentityBindingArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aiinfra:azure:WorkloadIdentity", name, opts)
        aks = cast(AksCluster, args.cluster)  # ADAPTERS pairs this class with AksCluster
        child = pulumi.ResourceOptions(parent=self, provider=aks.provider)
        group = aks.resource_group.name
        self.identity = managedidentity.UserAssignedIdentity(
            f"{name}-identity",
            resource_group_name=group,
            location=aks.region,
            tags=merge_tags(aks.tags, args.tags),
            opts=child,
        )
        self.credential = managedidentity.FederatedIdentityCredential(
            f"{name}-federation",
            resource_group_name=group,
            resource_name_=self.identity.name,
            issuer=aks.oidc_issuer_url,
            subject=kubernetes_subject(args.namespace, args.service_account),
            audiences=[TOKEN_EXCHANGE_AUDIENCE],
            opts=child,
        )
        self.client_id = self.identity.client_id
        self.principal_id = self.identity.principal_id
        self.service_account_annotations = {CLIENT_ID_ANNOTATION: self.client_id}
        self.pod_labels = {USE_LABEL: "true"}
        self.register_outputs({"clientId": self.client_id, "principalId": self.principal_id})
