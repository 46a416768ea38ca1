"""GCP half of `WorkloadIdentity`: a Google service account that exactly one Kubernetes service account of one
GKE cluster may act as, through Workload Identity Federation for GKE. The account holds no roles of its own;
`DataLake.grant` adds conditional bucket bindings for it."""

from __future__ import annotations

import hashlib
import re
from typing import cast

import pulumi
import pulumi_gcp as gcp

from components.contracts import IdentityBinding, IdentityBindingArgs
from components.gcp.gke import GkeCluster

WORKLOAD_IDENTITY_USER = "roles/iam.workloadIdentityUser"
GKE_SA_ANNOTATION = "iam.gke.io/gcp-service-account"
ACCOUNT_ID_MAX = 30


def workload_identity_member(workload_pool: str, namespace: str, service_account: str) -> str:
    """The IAM member a GKE service account's tokens authenticate as: `serviceAccount:<pool>[<ns>/<sa>]`."""
    return f"serviceAccount:{workload_pool}[{namespace}/{service_account}]"


def account_id(name: str, stack: str) -> str:
    """A service account id (6-30 lower-case letters, digits, '-', starting with a letter) from the identity
    name and stack; long names keep a hash of the whole so they stay apart."""
    clean = re.sub(r"[^a-z0-9-]+", "-", f"{name}-{stack}".lower()).strip("-")
    clean = clean if clean[:1].isalpha() else f"wi-{clean}"
    if len(clean) > ACCOUNT_ID_MAX:
        digest = hashlib.sha256(f"{name}/{stack}".encode()).hexdigest()[:6]
        clean = f"{clean[: ACCOUNT_ID_MAX - 7].rstrip('-')}-{digest}"
    return clean.ljust(6, "0")


class GcpWorkloadIdentity(IdentityBinding):
    """A Google service account bound to one Kubernetes service account."""

    account: gcp.serviceaccount.Account
    email: pulumi.Output[str]
    member: pulumi.Output[str]
    """`serviceAccount:<email>`: what bucket bindings name."""
    binding: gcp.serviceaccount.IAMMember

    def __init__(self, name: str, args: IdentityBindingArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aiinfra:gcp:WorkloadIdentity", name, opts)
        gke = cast(GkeCluster, args.cluster)  # ADAPTERS pairs this class with GkeCluster
        child = pulumi.ResourceOptions(parent=self, provider=gke.provider)
        self.account = gcp.serviceaccount.Account(
            f"{name}-account",
            account_id=account_id(name, pulumi.get_stack()),
            display_name=f"aiinfra {args.namespace}/{args.service_account}",
            description=f"Workload identity of Kubernetes service account {args.namespace}/{args.service_account}",
            opts=child,
        )
        self.email = self.account.email
        self.member = self.account.email.apply(lambda email: f"serviceAccount:{email}")
        # Only this Kubernetes service account may act as the Google account: a binding on the account itself,
        # never a project-wide workloadIdentityUser grant.
        self.binding = gcp.serviceaccount.IAMMember(
            f"{name}-workload-identity-user",
            service_account_id=self.account.name,
            role=WORKLOAD_IDENTITY_USER,
            member=gke.workload_pool.apply(
                lambda pool: workload_identity_member(pool, args.namespace, args.service_account)
            ),
            opts=child,
        )
        self.service_account_annotations = {GKE_SA_ANNOTATION: self.email}
        self.register_outputs({"email": self.email, "member": self.binding.member})
