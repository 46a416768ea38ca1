"""`Tenancy`: one team on one cluster.

A namespace under Pod Security Admission `restricted` (or, where the team trains on a fabric that needs host
access, under the platform layer's fabric admission policy: see `fabric_admission`), a ResourceQuota
(accelerators, cpu, memory, pods), a LimitRange so every container has requests and limits, a default-deny
NetworkPolicy with allowances for the namespace itself, DNS, the listed egress endpoints (the lake, identity
token endpoints) and the listed servers of other teams, a service account annotated for the team's workload
identity, and Kueue queueing.

Kueue quota model (Kueue's documented multi-tenant setup: one ClusterQueue per tenant, grouped in a cohort
that shares quota): the platform's pool ClusterQueue of each accelerator model owns the declared capacity as
nominal quota and admits no namespace itself. The team gets its own ClusterQueue in that cohort with no
nominal quota and a borrowingLimit of its team quota, and a LocalQueue (named after the model, e.g. `h100`)
in its namespace bound to it. So a team is capped at its quota; all teams together can only borrow what the
pool queue has unused, so they never exceed the cluster's capacity; and idle capacity is used by whoever
has work. Quotas are ceilings, not reservations: a team is not guaranteed its quota while others use it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import cast

import pulumi
import pulumi_kubernetes as k8s

from aiinfra.core.catalog.data import SUPPORTED_KUBERNETES
from aiinfra.core.vocab import POD_SECURITY_LEVELS, PodSecurityLevel
from components.common import ArgProblems
from components.kubernetes import admission, versions
from components.kubernetes.meta import (
    GPU_RESOURCE,
    NAMESPACE_NAME_LABEL,
    object_labels,
    valid_dns_label,
    valid_label_key,
)
from components.kubernetes.platform import AcceleratorClass, flavor_resources, team_share

PROTOCOLS = ("TCP", "UDP", "SCTP")
TEAM_LABEL = "aiinfra.dev/team"


@dataclass(frozen=True, kw_only=True)
class EgressRule:
    """Pods of the namespace may open connections to `cidr` on `ports`."""

    cidr: str
    """Destination network, e.g. the lake's endpoint or VPC-endpoint subnet."""
    ports: tuple[int, ...] = (443,)
    """Destination ports. Defaults to 443 (HTTPS: S3-compatible, GCS, Blob and token endpoints)."""
    protocol: str = "TCP"
    """TCP, UDP or SCTP. Defaults to TCP."""


@dataclass(frozen=True, kw_only=True)
class ServiceEgress:
    """Pods of the namespace may call the pods labelled `pod_labels` in `namespace` on `port`: another team's
    model server that lists this team as a client (its own NetworkPolicy lets them in)."""

    namespace: str
    pod_labels: Mapping[str, str]
    port: int


@dataclass(frozen=True, kw_only=True)
class TenancyArgs:
    provider: k8s.Provider
    """The cluster's Kubernetes provider (`Cluster.kubernetes_provider`)."""
    team: str
    """The team's name (a DNS label, as in stacks/teams/<team>.yaml)."""
    kubernetes_version: str
    """The cluster's Kubernetes minor version: pins the Pod Security Admission policy version."""
    accelerator_classes: Mapping[str, AcceleratorClass]
    """The cluster's queued accelerators (`PlatformLayer.accelerator_classes`)."""
    quotas: Mapping[str, int] = field(default_factory=dict)
    """Accelerator model -> GPUs/chips the team may use on this cluster at once. Defaults to none: the team
    runs no accelerator work here. Each must be a model the cluster has, at most its capacity."""
    namespace: str | None = None
    """The team's namespace. Defaults to `team-<team>`."""
    egress: tuple[EgressRule, ...] = ()
    """Endpoints besides DNS and the namespace itself that pods may reach: the lake endpoints and, where the
    identity needs them, token endpoints. Defaults to none: pods reach nothing outside the namespace."""
    service_egress: tuple[ServiceEgress, ...] = ()
    """Servers in other namespaces that pods may call. Defaults to none."""
    service_account: str = "workload"
    """Name of the service account workloads run as. Defaults to `workload`."""
    service_account_annotations: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Binds the service account to the team's cloud identity, e.g. `eks.amazonaws.com/role-arn`,
    `iam.gke.io/gcp-service-account` or `azure.workload.identity/client-id`. Defaults to none."""
    image_pull_secret: pulumi.Input[str] | None = None
    """A Docker config JSON (`{"auths": {...}}`) for a registry the nodes cannot pull from on their own, such as
    an on-prem Harbor: kept in the namespace as the `kubernetes.io/dockerconfigjson` Secret `registry-pull`, which
    the service account hands to every pod that runs as it. Defaults to none."""
    pod_security: PodSecurityLevel = "restricted"
    """Pod Security Admission level enforced (and audited, warned): restricted or baseline. Defaults to
    restricted. `privileged` is refused: it turns pod security off for every pod of the team; pods that need
    a fabric's host access get exactly that through `fabric_admission`."""
    fabric_admission: bool = False
    """Admit the namespace's pods with the platform layer's fabric admission policy
    (`components.kubernetes.admission`: `restricted` plus exactly the cluster's fabric wiring) instead of Pod
    Security Admission: the namespace is labelled for the policy's binding, PSA enforces `privileged` (it
    has no per-pod exceptions) and still warns and audits at `pod_security`. Defaults to false; set it where
    the team has quota on a TCPXO, GKE RDMA or InfiniBand/RoCE pool (`pod_security_level` privileged)."""
    pods: int = 500
    """Most pods in the namespace at once. Defaults to 500."""
    extra_cpus: int = 8
    """CPUs for work beside the accelerator nodes' share (notebooks, data loaders). Defaults to 8."""
    extra_memory_gib: int = 32
    """Memory for the same. Defaults to 32 GiB."""
    default_request: Mapping[str, str] = field(default_factory=lambda: {"cpu": "250m", "memory": "512Mi"})
    """Requests given to containers that set none. Defaults to 250m CPU, 512Mi."""
    default_limit: Mapping[str, str] = field(default_factory=lambda: {"cpu": "2", "memory": "4Gi"})
    """Limits given to containers that set none. Defaults to 2 CPUs, 4Gi."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """The stack's tags, as labels on every object (values made label-safe)."""


PULL_SECRET = "registry-pull"
"""The Secret holding `TenancyArgs.image_pull_secret`."""


def team_namespace(team: str) -> str:
    """A team's namespace unless `TenancyArgs.namespace` names another."""
    return f"team-{team}"


def team_cluster_queue(team: str, cls: AcceleratorClass) -> str:
    return f"{team}-{cls.queue}"


def team_cluster_queue_spec(cls: AcceleratorClass, namespace: str, quota: int) -> dict:
    """The team's ClusterQueue for one accelerator model: in the model's cohort, no quota of its own,
    borrowing up to `quota` accelerators per pool; only the team's namespace submits to it."""
    return {
        "cohortName": cls.cohort,
        "namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: namespace}},
        "queueingStrategy": "BestEffortFIFO",
        "preemption": {"reclaimWithinCohort": "Never", "withinClusterQueue": "LowerPriority"},
        "resourceGroups": [
            {
                "coveredResources": ["cpu", "memory", cls.resource],
                "flavors": [
                    {"name": f.flavor, "resources": flavor_resources(cls, f, team_cap=quota)} for f in cls.flavors
                ],
            }
        ],
    }


def quota_hard(args: TenancyArgs) -> dict[str, str]:
    """The namespace's ResourceQuota: accelerators per resource type on the cluster (what Kueue admits
    is also what pods may request directly), cpu/memory of the nodes that quota comes with plus the extra,
    and pods. cpu/memory are left out when a pool's node size is unknown."""
    hard: dict[str, str] = {}
    for cls in args.accelerator_classes.values():
        key = f"requests.{cls.resource}"
        hard[key] = str(int(hard.get(key, "0")) + args.quotas.get(cls.model, 0))
    shares = [team_share(args.accelerator_classes[m], n) for m, n in args.quotas.items() if n > 0]
    sized = [s for s in shares if s is not None]
    if len(sized) == len(shares):
        hard["requests.cpu"] = str(args.extra_cpus + sum(cpus for cpus, _ in sized))
        hard["requests.memory"] = f"{args.extra_memory_gib + sum(memory for _, memory in sized)}Gi"
    hard["pods"] = str(args.pods)
    return dict(sorted(hard.items()))


def network_policy_specs(
    namespace_egress: tuple[EgressRule, ...], service_egress: tuple[ServiceEgress, ...] = ()
) -> dict[str, dict]:
    """Default deny in both directions, then what training needs: its own pods (torchrun rendezvous and
    NCCL bootstrap over TCP), cluster DNS, the listed endpoints, and the listed servers of other teams."""
    specs = {
        "default-deny": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
        "allow-same-namespace": {
            "podSelector": {},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [{"from": [{"podSelector": {}}]}],
            "egress": [{"to": [{"podSelector": {}}]}],
        },
        "allow-dns": {
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [
                {
                    "to": [
                        {
                            "namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: "kube-system"}},
                            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                        }
                    ],
                    "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
                }
            ],
        },
    }
    if namespace_egress:
        specs["allow-egress"] = {
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [
                {
                    "to": [{"ipBlock": {"cidr": str(ipaddress.ip_network(rule.cidr, strict=False))}}],
                    "ports": [{"protocol": rule.protocol, "port": port} for port in rule.ports],
                }
                for rule in namespace_egress
            ],
        }
    if service_egress:
        specs["allow-services"] = {
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [
                {
                    "to": [
                        {
                            "namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: service.namespace}},
                            "podSelector": {"matchLabels": dict(service.pod_labels)},
                        }
                    ],
                    "ports": [{"protocol": "TCP", "port": service.port}],
                }
                for service in service_egress
            ],
        }
    return specs


def tenancy_problems(name: str, args: TenancyArgs, namespace: str) -> ArgProblems:
    problems = ArgProblems(name)
    problems.check(
        valid_dns_label(args.team) and len(args.team) <= 40,
        "team",
        f"{args.team!r} — must be a lower-case DNS label of at most 40 characters",
    )
    problems.check(valid_dns_label(namespace), "namespace", f"{namespace!r} — must be a lower-case DNS label")
    problems.check(
        args.kubernetes_version in SUPPORTED_KUBERNETES,
        "kubernetes_version",
        f"{args.kubernetes_version!r} — supported: {', '.join(SUPPORTED_KUBERNETES)}",
    )
    problems.check(
        args.pod_security in POD_SECURITY_LEVELS,
        "pod_security",
        f"{args.pod_security!r} — choose one of {', '.join(POD_SECURITY_LEVELS)}",
    )
    problems.check(
        args.pod_security != "privileged",
        "pod_security",
        "'privileged' — leaves every pod of the team without pod security; for a fabric's host access set "
        "fabric_admission, which admits exactly the fabric's needs",
    )
    known = ", ".join(f"{m} ({c.capacity})" for m, c in args.accelerator_classes.items()) or "none"
    for model, count in args.quotas.items():
        cls = args.accelerator_classes.get(model)
        if cls is None:
            problems.check(False, ("quotas", model), f"{count} — the cluster has no {model} pool; it has: {known}")
            continue
        problems.check(
            0 <= count <= cls.capacity,
            ("quotas", model),
            f"{count} — above the cluster's declared {model} capacity of {cls.capacity} "
            f"({' + '.join(f'{f.nodes} x {f.accelerators_per_node}' for f in cls.flavors)}); lower the quota "
            "or declare more nodes"
            if count > cls.capacity
            else f"{count} — must be 0 or more",
        )
    for i, rule in enumerate(args.egress):
        problems.check_narrow_cidr(
            ("egress", i, "cidr"), rule.cidr, "opens egress to everything; list the endpoints' networks"
        )
        problems.check(
            bool(rule.ports) and all(0 < p < 65536 for p in rule.ports),
            ("egress", i, "ports"),
            f"{list(rule.ports)} — give ports between 1 and 65535",
        )
        problems.check(
            rule.protocol in PROTOCOLS, ("egress", i, "protocol"), f"{rule.protocol!r} — one of {', '.join(PROTOCOLS)}"
        )
    for i, service in enumerate(args.service_egress):
        path, namespace = ("service_egress", i), service.namespace
        problems.check(valid_dns_label(namespace), (*path, "namespace"), f"{namespace!r} — not a DNS label")
        problems.check(0 < service.port < 65536, (*path, "port"), f"{service.port} — between 1 and 65535")
    problems.check(
        valid_dns_label(args.service_account), "service_account", f"{args.service_account!r} — not a DNS label"
    )
    for key in args.service_account_annotations:
        problems.check(valid_label_key(key), ("service_account_annotations", key), "not a valid annotation key")
    problems.check(args.pods > 0, "pods", f"{args.pods} — must be positive")
    return problems


class Tenancy(pulumi.ComponentResource):
    """One team's namespace, limits, network isolation, identity and Kueue queues on one cluster."""

    namespace: str
    service_account: str
    local_queues: dict[str, str]
    """Accelerator model -> LocalQueue name in the namespace (the `kueue.x-k8s.io/queue-name` label)."""

    def __init__(self, name: str, args: TenancyArgs, opts: pulumi.ResourceOptions | None = None):
        namespace = args.namespace or team_namespace(args.team)
        tenancy_problems(name, args, namespace).raise_if_any()  # before registering anything
        super().__init__("aiinfra:kubernetes:Tenancy", name, None, opts)
        labels = object_labels(args.tags, {TEAM_LABEL: args.team})
        child = pulumi.ResourceOptions(parent=self, provider=args.provider)
        self.namespace = namespace
        self.service_account = args.service_account
        psa_version = f"v{args.kubernetes_version}"
        levels = {mode: args.pod_security for mode in ("enforce", "audit", "warn")}
        admission_labels = {}
        if args.fabric_admission:
            # PSA has no per-pod exceptions: the bound admission policy enforces restricted-plus-fabric instead.
            levels["enforce"] = "privileged"
            admission_labels = {admission.EXCEPTIONS_LABEL: admission.EXCEPTIONS_VALUE}
        ns = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata={
                "name": namespace,
                "labels": {
                    **labels,
                    **admission_labels,
                    **{f"pod-security.kubernetes.io/{mode}": level for mode, level in levels.items()},
                    **{
                        f"pod-security.kubernetes.io/{mode}-version": psa_version
                        for mode in ("enforce", "audit", "warn")
                    },
                },
            },
            opts=child,
        )
        ns_name = ns.metadata.name

        def meta(object_name: str, **extra) -> k8s.meta.v1.ObjectMetaArgsDict:
            return cast(
                "k8s.meta.v1.ObjectMetaArgsDict", {"name": object_name, "namespace": ns_name, "labels": labels, **extra}
            )

        k8s.core.v1.ResourceQuota(
            f"{name}-quota", metadata=meta("team-quota"), spec={"hard": quota_hard(args)}, opts=child
        )
        k8s.core.v1.LimitRange(
            f"{name}-limits",
            metadata=meta("team-defaults"),
            # camelCase field names, which pulumi-kubernetes accepts.
            spec=cast(
                "k8s.core.v1.LimitRangeSpecArgsDict",
                {
                    "limits": [
                        {
                            "type": "Container",
                            "defaultRequest": dict(args.default_request),
                            "default": dict(args.default_limit),
                        }
                    ]
                },
            ),
            opts=child,
        )
        for policy, spec in network_policy_specs(args.egress, args.service_egress).items():
            k8s.networking.v1.NetworkPolicy(
                f"{name}-{policy}",
                metadata=meta(policy),
                spec=cast("k8s.networking.v1.NetworkPolicySpecArgsDict", spec),
                opts=child,
            )
        pull_secrets = []
        if args.image_pull_secret is not None:
            k8s.core.v1.Secret(
                f"{name}-pull",
                metadata=meta(PULL_SECRET),
                type="kubernetes.io/dockerconfigjson",
                string_data={".dockerconfigjson": args.image_pull_secret},  # the SDK marks a Secret's data secret
                opts=child,
            )
            pull_secrets.append({"name": PULL_SECRET})
        k8s.core.v1.ServiceAccount(
            f"{name}-sa",
            metadata=meta(args.service_account, annotations=dict(args.service_account_annotations)),
            # Workloads do not call the Kubernetes API; identity webhooks (IRSA, Azure) project their own token.
            automount_service_account_token=False,
            # The ServiceAccount admission plugin copies these into every pod that runs as the account.
            image_pull_secrets=pull_secrets or None,
            opts=child,
        )

        self.local_queues = {}
        cluster_queues = []
        for model, quota in sorted(args.quotas.items()):
            if quota == 0:
                continue
            cls = args.accelerator_classes[model]
            queue_name = team_cluster_queue(args.team, cls)
            cluster_queue = k8s.apiextensions.CustomResource(
                f"{name}-queue-{cls.queue}",
                api_version=versions.KUEUE_API_VERSION,
                kind="ClusterQueue",
                metadata={"name": queue_name, "labels": labels},
                spec=team_cluster_queue_spec(cls, namespace, quota),
                opts=child,
            )
            k8s.apiextensions.CustomResource(
                f"{name}-local-queue-{cls.queue}",
                api_version=versions.KUEUE_API_VERSION,
                kind="LocalQueue",
                metadata=meta(cls.queue),
                spec={"clusterQueue": queue_name},
                opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[cluster_queue])),
            )
            self.local_queues[model] = cls.queue
            cluster_queues.append(queue_name)
        self.register_outputs(
            {
                "namespace": ns_name,
                "serviceAccount": args.service_account,
                "localQueues": self.local_queues,
                "clusterQueues": cluster_queues,
                "gpuQuota": sum(
                    n for m, n in args.quotas.items() if args.accelerator_classes[m].resource == GPU_RESOURCE
                ),
            }
        )


def cluster_quotas(team_quotas: Mapping[str, int], classes: Mapping[str, AcceleratorClass]) -> dict[str, int]:
    """A team's per-environment quotas (stacks/teams: {H100: 16, TPU-v5p: 8}) on this cluster: limited to the
    models it has, each capped at its declared capacity (a quota applies on every cluster with the model)."""
    return {model: min(count, classes[model].capacity) for model, count in team_quotas.items() if model in classes}
