"""The provider-neutral `WorkloadIdentity`: one cloud identity bound to exactly one Kubernetes service account
(`<namespace>/<service_account>`) of one cluster, which `DataLake.grant` gives lake access to.

- AWS (EKS): an IAM role, by default handed out by EKS Pod Identity (an association for that namespace and
  service account, and a trust policy pinning the cluster, namespace and service account); with `aws_mode="irsa"`,
  a role trusting the cluster's OIDC provider for `system:serviceaccount:<ns>:<sa>` and audience
  `sts.amazonaws.com` (the service account then needs the `eks.amazonaws.com/role-arn` annotation).
- GCP (GKE): a Google service account that `serviceAccount:<project>.svc.id.goog[<ns>/<sa>]` may impersonate
  (`roles/iam.workloadIdentityUser` on that account only); annotation `iam.gke.io/gcp-service-account`.
- Azure (AKS): a user-assigned managed identity with a federated credential for the cluster's OIDC issuer and
  subject `system:serviceaccount:<ns>:<sa>`; annotation `azure.workload.identity/client-id`, and pods need the
  label `azure.workload.identity/use: "true"` (`pod_labels`).
- On-prem: no cloud identity exists; the identity is the service account itself (its token subject), which
  S3-compatible stores (MinIO, Ceph) map to policies through their own OIDC configuration.

`service_account_annotations` is what the team's `TenancyArgs.service_account_annotations` needs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pulumi

from aiinfra.core.vocab import AWS_IDENTITY_MODES, AwsIdentityMode, Cloud
from components.common import ArgProblems, merge_tags
from components.contracts import ADAPTERS, IdentityBinding, IdentityBindingArgs, adapter_class
from components.kubernetes.meta import kubernetes_subject, valid_dns_label

if TYPE_CHECKING:
    from components.cluster import Cluster

_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


@dataclass(frozen=True, kw_only=True)
class WorkloadIdentityArgs:
    cluster: Cluster
    """The cluster whose service account the identity is bound to (its cloud decides the kind of identity)."""
    namespace: str
    """The service account's namespace, e.g. `team-vision` (a team's `Tenancy` namespace)."""
    service_account: str = "workload"
    """The service account's name. Defaults to `workload`, the one `Tenancy` creates."""
    aws_mode: AwsIdentityMode | None = None
    """AWS only: "pod-identity" (EKS Pod Identity association) or "irsa" (IAM roles for service accounts through
    the cluster's OIDC provider). Defaults to pod-identity on AWS."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """The stack's tags, merged into the tags or labels of every resource."""


def identity_problems(name: str, args: WorkloadIdentityArgs) -> ArgProblems:
    problems = ArgProblems(name)
    cloud = getattr(args.cluster, "cloud", None)
    problems.check(
        valid_dns_label(args.namespace),
        "namespace",
        f"{args.namespace!r} — not a Kubernetes namespace name (lower-case letters, digits, '-'; at most 63)",
    )
    problems.check(
        len(args.service_account) <= 253 and bool(_DNS_SUBDOMAIN.match(args.service_account)),
        "service_account",
        f"{args.service_account!r} — not a Kubernetes service account name",
    )
    if cloud == "aws":
        problems.check(
            args.aws_mode is None or args.aws_mode in AWS_IDENTITY_MODES,
            "aws_mode",
            f"{args.aws_mode!r} — one of {', '.join(AWS_IDENTITY_MODES)}",
        )
    else:
        problems.check(args.aws_mode is None, "aws_mode", f"AWS only; the cluster is on {cloud}")
    return problems


class WorkloadIdentity(pulumi.ComponentResource):
    """A cloud identity for exactly one Kubernetes service account of one cluster."""

    name: str
    cloud: Cloud
    namespace: str
    service_account: str
    subject: str
    """`system:serviceaccount:<namespace>:<service_account>`."""
    binding: IdentityBinding | None
    """The cloud's half (AwsWorkloadIdentity, GcpWorkloadIdentity, AzureWorkloadIdentity); None on-prem."""
    service_account_annotations: dict[str, pulumi.Input[str]]
    """Annotations the service account needs (none for EKS Pod Identity and on-prem)."""
    pod_labels: dict[str, str]
    """Labels the pods need (AKS workload identity's webhook only mutates pods labelled for it)."""

    def __init__(self, name: str, args: WorkloadIdentityArgs, opts: pulumi.ResourceOptions | None = None):
        identity_problems(name, args).raise_if_any()  # before registering anything
        super().__init__("aiinfra:index:WorkloadIdentity", name, None, opts)
        self.name = name
        cluster = args.cluster
        self.cloud = cluster.cloud
        self.namespace = args.namespace
        self.service_account = args.service_account
        self.subject = kubernetes_subject(args.namespace, args.service_account)
        tags = merge_tags(args.tags, {"aiinfra-workload-identity": f"{args.namespace}.{args.service_account}"})
        self.binding = None
        self.service_account_annotations = {}
        self.pod_labels = {}
        binding_class = ADAPTERS[self.cloud].identity
        if binding_class is not None:
            binding: IdentityBinding = adapter_class(binding_class)(
                name,
                IdentityBindingArgs(
                    cluster=cluster.adapter,
                    namespace=args.namespace,
                    service_account=args.service_account,
                    aws_mode=args.aws_mode or "pod-identity",
                    tags=tags,
                ),
                pulumi.ResourceOptions(parent=self),
            )
            self.binding = binding
            self.service_account_annotations = dict(binding.service_account_annotations)
            self.pod_labels = dict(binding.pod_labels)
        self.register_outputs(
            {
                "cloud": self.cloud,
                "subject": self.subject,
                "serviceAccountAnnotations": self.service_account_annotations,
            }
        )
