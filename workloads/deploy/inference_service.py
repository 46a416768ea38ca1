"""`InferenceService`: the model server on a cluster — Deployment, Service, HPA, PodDisruptionBudget, and
the NetworkPolicy that lets its clients in.

The team's namespace denies ingress by default (`Tenancy`), so only the team's own pods reach the server
unless `client_namespaces` (other teams, an ingress controller, Prometheus) or `client_cidrs` (callers of
the internal load balancer) are listed. Another team's namespace also denies egress: it gets a matching
allowance from its own `Tenancy` (`ServiceEgress`), which `aiinfra/program.py` wires from the spec.

Replicas run `python -m workloads.serving` (the flags of `aiinfra local serve`) on one node pool, one GPU
each by default, as the team's workload identity, which reads the model from the lake's `models/`.

Shutdown order on a rollout or scale-down: the pod leaves the Service's endpoints while its preStop hook
sleeps `deregistration_delay_s`, then SIGTERM makes the server stop accepting and answer what it holds
(at most `drain_timeout_s`); the grace period covers both.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import cast

import pulumi
import pulumi_kubernetes as k8s

from aiinfra.core.catalog import NodeShape
from components.common import ArgProblems, Taint
from components.contracts import ImageSource
from components.kubernetes.meta import (
    NAMESPACE_NAME_LABEL,
    POOL_LABEL,
    accelerator_resource,
    accelerator_tolerations,
    container_resources,
    object_labels,
    pinned_image,
    taint_tolerations,
    valid_dns_label,
)
from workloads.serving.settings import DEFAULT_PORT, QUEUE_DEPTH, ServerSettings
from workloads.shared.lake_url import endpoint_problem

SERVING_IMAGE = ImageSource("aiinfra-serving", "workloads/serving/Dockerfile")
"""workloads/serving/Dockerfile, built and pushed at this tag."""
INTERNAL_LOAD_BALANCER_ANNOTATIONS: dict[str, dict[str, str]] = {
    # The in-tree AWS controller reads `internal`; the AWS Load Balancer Controller and EKS Auto Mode read
    # `scheme` (https://kubernetes-sigs.github.io/aws-load-balancer-controller/latest/guide/service/annotations/).
    "aws": {
        "service.beta.kubernetes.io/aws-load-balancer-internal": "true",
        "service.beta.kubernetes.io/aws-load-balancer-scheme": "internal",
    },
    # https://cloud.google.com/kubernetes-engine/docs/how-to/internal-load-balancing
    "gcp": {"networking.gke.io/load-balancer-type": "Internal"},
    # https://learn.microsoft.com/azure/aks/internal-lb
    "azure": {"service.beta.kubernetes.io/azure-load-balancer-internal": "true"},
}
GPU_UTILIZATION_METRIC = "DCGM_FI_DEV_GPU_UTIL"
"""dcgm-exporter's GPU utilisation (percent), as the metrics adapter serves it per pod."""
AZURE_WORKLOAD_IDENTITY_LABEL = {"azure.workload.identity/use": "true"}
"""AKS injects the workload-identity token only into pods carrying this label."""
SCRATCH_PATH = "/tmp"
PROBE_PERIOD_S = 5
SHUTDOWN_HEADROOM_S = 10
"""Grace beyond deregistration and drain for the process to exit."""


@dataclass(frozen=True, kw_only=True)
class InferenceServiceArgs:
    provider: k8s.Provider
    """The cluster's Kubernetes provider (`Cluster.kubernetes_provider`); every object goes through it."""
    namespace: str
    """The team's namespace (made by `Tenancy`)."""
    service_account: str
    """The team's workload-identity ServiceAccount in `namespace`, allowed to read `models/` in the lake."""
    model_url: str
    """The training job's export, e.g. `s3://lake/models/llm-pretrain/`."""
    shape: NodeShape
    """The catalog's resolution of the pool's accelerator; decides GPU requests, tolerations, the cloud."""
    pool: str
    """Node pool the replicas run on (node selector `aiinfra.dev/pool`)."""
    image: pulumi.Input[str]
    """The serving image: `ImageRegistry.refs` of `SERVING_IMAGE`, or a prebuilt image pinned by tag or digest;
    `latest` is refused."""
    pool_taints: tuple[Taint, ...] = ()
    """The pool's own taints, tolerated. The accelerator taint is always tolerated."""
    gpus_per_replica: int | None = None
    """GPUs per replica. Defaults to 1 on GPU pools and 0 on CPU pools. This server runs the model on one
    GPU; ask for more only with an image whose server shards the model."""
    cpu_cores: float = 4
    """CPU request per replica (the limit is twice that). Defaults to 4."""
    memory_gib: int = 32
    """Memory request and limit per replica; holds the weights twice while loading. Defaults to 32."""
    scratch_gib: int = 4
    """Size of the writable emptyDir at /tmp (HOME and caches; the root filesystem is read-only)."""
    min_replicas: int = 1
    """Fewest replicas the HPA keeps. Defaults to 1."""
    max_replicas: int = 2
    """Most replicas the HPA makes. Defaults to 2."""
    target_cpu_utilization_percent: int = 70
    """HPA target for average CPU use relative to the request. Defaults to 70."""
    custom_metrics: bool = False
    """A metrics adapter serves per-pod `aiinfra_queue_depth` (and, on GPU pools, `DCGM_FI_DEV_GPU_UTIL`),
    so the HPA also scales on queue depth and GPU utilisation. Defaults to off: CPU only."""
    target_queue_depth: int = 8
    """With custom_metrics: average sequences waiting per replica the HPA aims for. Defaults to 8."""
    target_gpu_utilization_percent: int = 80
    """With custom_metrics on GPU pools: average GPU utilisation the HPA aims for. Defaults to 80."""
    internal_load_balancer: bool = False
    """Also expose the Service on a cloud-internal load balancer (aws, gcp, azure); needs `client_cidrs`.
    Defaults to ClusterIP only."""
    client_namespaces: tuple[str, ...] = ()
    """Namespaces whose pods may call the server (and scrape its /metrics) besides the team's own."""
    client_cidrs: tuple[str, ...] = ()
    """Networks allowed in on the server's port: the internal load balancer's callers. Load-balancer traffic
    may arrive from node addresses (kube-proxy SNAT), so include the nodes' subnets."""
    max_batch_size: int = ServerSettings.max_batch_size
    """Server flag --max-batch-size."""
    max_wait_ms: float = ServerSettings.max_wait_ms
    """Server flag --max-wait-ms."""
    max_queue: int = ServerSettings.max_queue
    """Server flag --max-queue."""
    lake_endpoint_url: str | None = None
    """Object-store endpoint of the model (on-prem MinIO/Ceph for s3://; `workloads.shared.lake_url`). Defaults to
    the model URL's own cloud store, reached with the pod's workload identity."""
    deregistration_delay_s: int = 10
    """preStop sleep: time for endpoints and load balancers to stop sending before SIGTERM. Defaults to 10."""
    drain_timeout_s: int = 60
    """After SIGTERM, how long open requests may take to finish. Defaults to 60."""
    startup_timeout_s: int = 900
    """How long loading and warming up the model may take before the pod is restarted. Defaults to 15 min."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """The stack's tags, merged into every object's labels."""


def serving_selector(name: str) -> dict[str, str]:
    """Labels of the server's pods: the Service, PDB and NetworkPolicies select them by these."""
    return {"app.kubernetes.io/name": "aiinfra-serving", "app.kubernetes.io/instance": name}


def client_ingress(args: InferenceServiceArgs) -> list[dict]:
    """The `from` peers of the clients' NetworkPolicy."""
    peers: list[dict] = [
        {"namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: namespace}}}
        for namespace in args.client_namespaces
    ]
    return peers + [{"ipBlock": {"cidr": str(ipaddress.ip_network(cidr, strict=False))}} for cidr in args.client_cidrs]


def _client_problems(problems: ArgProblems, args: InferenceServiceArgs) -> None:
    for i, namespace in enumerate(args.client_namespaces):
        problems.check(valid_dns_label(namespace), ("client_namespaces", i), f"{namespace!r} — must be a DNS label")
    for i, cidr in enumerate(args.client_cidrs):
        problems.check_narrow_cidr(
            ("client_cidrs", i), cidr, "opens the server to every address; list the callers' networks"
        )
    problems.check(
        not args.internal_load_balancer or bool(args.client_cidrs),
        "internal_load_balancer",
        "the team namespace denies ingress by default, so the load balancer would reach nothing; list "
        "client_cidrs (the callers' networks and the nodes' subnets)",
    )


def service_problems(name: str, args: InferenceServiceArgs) -> ArgProblems:
    problems = ArgProblems(name)
    problems.check(valid_dns_label(name), "name", f"{name!r} — must be a DNS label (lower case, digits, '-')")
    problems.check(valid_dns_label(args.namespace), "namespace", f"{args.namespace!r} — must be a DNS label")
    problems.check(
        not isinstance(args.image, str) or pinned_image(args.image),
        "image",
        f"{args.image!r} — pin a tag or digest (registry/aiinfra-serving@sha256:...)",
    )
    problems.check(
        args.shape.tpu is None,
        "shape",
        f"{args.shape.accelerator} — the server runs PyTorch on CUDA or CPU; serve from a GPU or CPU pool",
    )
    gpus = args.gpus_per_replica
    if args.shape.is_gpu:
        problems.check(
            gpus is None or 1 <= gpus <= args.shape.accelerators_per_node,
            "gpus_per_replica",
            f"{gpus} — between 1 and the pool's {args.shape.accelerators_per_node} GPUs per node",
        )
    else:
        problems.check(gpus in (None, 0), "gpus_per_replica", f"{gpus} — the pool has no GPUs")
    problems.check(
        1 <= args.min_replicas <= args.max_replicas,
        "min_replicas",
        f"need 1 <= min_replicas ({args.min_replicas}) <= max_replicas ({args.max_replicas})",
    )
    problems.check(
        not args.internal_load_balancer or args.shape.cloud in INTERNAL_LOAD_BALANCER_ANNOTATIONS,
        "internal_load_balancer",
        f"no internal load balancer on {args.shape.cloud}; expose the ClusterIP Service through your ingress",
    )
    _client_problems(problems, args)
    endpoint = endpoint_problem(args.model_url, args.lake_endpoint_url)
    problems.check(endpoint is None, "lake_endpoint_url", endpoint or "")
    problems.check(args.drain_timeout_s >= 1, "drain_timeout_s", f"{args.drain_timeout_s} — must be at least 1")
    problems.check(
        args.deregistration_delay_s >= 1,
        "deregistration_delay_s",
        f"{args.deregistration_delay_s} — must be at least 1: endpoints take time to stop sending",
    )
    problems.check(
        args.startup_timeout_s >= PROBE_PERIOD_S, "startup_timeout_s", f"{args.startup_timeout_s} — at least 5"
    )
    settings = ServerSettings(
        model_url=args.model_url,
        max_batch_size=args.max_batch_size,
        max_wait_ms=args.max_wait_ms,
        max_queue=args.max_queue,
    )
    for arg, message in settings.problems():
        problems.check(False, arg, message)
    return problems


def server_args(args: InferenceServiceArgs) -> list[str]:
    """The container's arguments: `python -m workloads.serving` flags."""
    flags = [
        "--model", args.model_url,
        "--host", "0.0.0.0",
        "--port", str(DEFAULT_PORT),
        "--device", "cuda" if args.shape.is_gpu else "cpu",
        "--max-batch-size", str(args.max_batch_size),
        "--max-wait-ms", f"{args.max_wait_ms:g}",
        "--max-queue", str(args.max_queue),
        "--drain-timeout-s", str(args.drain_timeout_s),
    ]  # fmt: skip
    if args.lake_endpoint_url:
        flags += ["--endpoint-url", args.lake_endpoint_url]
    return flags


def _autoscaling_metrics(args: InferenceServiceArgs) -> list[dict]:
    metrics: list[dict] = [
        {
            "type": "Resource",
            "resource": {
                "name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": args.target_cpu_utilization_percent},
            },
        }
    ]
    if args.custom_metrics:
        per_pod = [(QUEUE_DEPTH, args.target_queue_depth)]
        if args.shape.is_gpu:
            per_pod.append((GPU_UTILIZATION_METRIC, args.target_gpu_utilization_percent))
        metrics += [
            {
                "type": "Pods",
                "pods": {"metric": {"name": metric}, "target": {"type": "AverageValue", "averageValue": str(target)}},
            }
            for metric, target in per_pod
        ]
    return metrics


def _pod_spec(args: InferenceServiceArgs, selector: Mapping[str, str]) -> dict:
    gpus = (args.gpus_per_replica or 1) if args.shape.is_gpu else 0
    resources = container_resources(f"{args.cpu_cores:g}", f"{args.memory_gib}Gi")
    if gpus:
        for bound in ("requests", "limits"):
            resources[bound][accelerator_resource(args.shape)] = str(gpus)

    def probe(path: str, period_s: int, failures: int) -> dict:
        return {
            "httpGet": {"path": path, "port": "http"},
            "periodSeconds": period_s,
            "timeoutSeconds": 3,
            "failureThreshold": failures,
        }

    spread = [
        {
            "maxSkew": 1,
            "topologyKey": key,
            # Spreading is a preference: a single-zone GPU pool, or one node with free GPUs, still serves.
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": dict(selector)},
        }
        for key in ("topology.kubernetes.io/zone", "kubernetes.io/hostname")
    ]
    return {
        "serviceAccountName": args.service_account,
        "automountServiceAccountToken": False,
        "nodeSelector": {POOL_LABEL: args.pool},
        "tolerations": accelerator_tolerations(args.shape) + taint_tolerations(args.pool_taints),
        "topologySpreadConstraints": spread,
        "terminationGracePeriodSeconds": args.deregistration_delay_s + args.drain_timeout_s + SHUTDOWN_HEADROOM_S,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 10001,
            "runAsGroup": 10001,
            "fsGroup": 10001,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [
            {
                "name": "server",
                "image": args.image,
                "args": server_args(args),
                "ports": [{"name": "http", "containerPort": DEFAULT_PORT, "protocol": "TCP"}],
                "env": [
                    {"name": "HOME", "value": SCRATCH_PATH},
                    {"name": "TMPDIR", "value": SCRATCH_PATH},
                    # torch sizes its thread pool by the node's cores, not by the container's CPU share.
                    {"name": "OMP_NUM_THREADS", "value": str(max(1, math.floor(args.cpu_cores)))},
                ],
                "resources": resources,
                "startupProbe": probe("/readyz", PROBE_PERIOD_S, math.ceil(args.startup_timeout_s / PROBE_PERIOD_S)),
                "readinessProbe": probe("/readyz", PROBE_PERIOD_S, 2),
                "livenessProbe": probe("/healthz", 10, 3),
                "lifecycle": {"preStop": {"sleep": {"seconds": args.deregistration_delay_s}}},
                "securityContext": {
                    "allowPrivilegeEscalation": False,
                    "readOnlyRootFilesystem": True,
                    "runAsNonRoot": True,
                    "capabilities": {"drop": ["ALL"]},
                },
                "volumeMounts": [{"name": "scratch", "mountPath": SCRATCH_PATH}],
            }
        ],
        "volumes": [{"name": "scratch", "emptyDir": {"sizeLimit": f"{args.scratch_gib}Gi"}}],
    }


class InferenceService(pulumi.ComponentResource):
    """The model server behind a Service, scaled by an HPA and protected by a PodDisruptionBudget."""

    service_name: str
    url: str
    """In-cluster URL of the completions API's base (`http://<name>.<namespace>.svc.cluster.local`)."""

    def __init__(self, name: str, args: InferenceServiceArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aiinfra:workloads:InferenceService", name, None, opts)
        service_problems(name, args).raise_if_any()  # before registering anything
        child = pulumi.ResourceOptions(parent=self, provider=args.provider)
        selector = serving_selector(name)
        labels = object_labels(args.tags, selector, {"app.kubernetes.io/component": "inference"})
        pod_labels = labels | (AZURE_WORKLOAD_IDENTITY_LABEL if args.shape.cloud == "azure" else {})

        def metadata(annotations: Mapping[str, str] | None = None) -> k8s.meta.v1.ObjectMetaArgsDict:
            meta = {"name": name, "namespace": args.namespace, "labels": labels}
            return cast(
                "k8s.meta.v1.ObjectMetaArgsDict", meta | {"annotations": dict(annotations)} if annotations else meta
            )

        deployment = k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata=metadata(),
            spec=cast(
                "k8s.apps.v1.DeploymentSpecArgsDict",
                {
                    # No `replicas`: the HPA owns the count, and a `pulumi up` must not reset it.
                    "selector": {"matchLabels": selector},
                    "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
                    "template": {
                        "metadata": {
                            "labels": pod_labels,
                            "annotations": {
                                "prometheus.io/scrape": "true",
                                "prometheus.io/port": str(DEFAULT_PORT),
                                "prometheus.io/path": "/metrics",
                            },
                        },
                        "spec": _pod_spec(args, selector),
                    },
                },
            ),
            opts=child,
        )
        k8s.core.v1.Service(
            f"{name}-service",
            metadata=metadata(
                INTERNAL_LOAD_BALANCER_ANNOTATIONS[args.shape.cloud] if args.internal_load_balancer else None
            ),
            spec=cast(
                "k8s.core.v1.ServiceSpecArgsDict",
                {
                    "type": "LoadBalancer" if args.internal_load_balancer else "ClusterIP",
                    "selector": selector,
                    "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
                },
            ),
            opts=child,
        )
        k8s.autoscaling.v2.HorizontalPodAutoscaler(
            f"{name}-hpa",
            metadata=metadata(),
            spec=cast(
                "k8s.autoscaling.v2.HorizontalPodAutoscalerSpecArgsDict",
                {
                    "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                    "minReplicas": args.min_replicas,
                    "maxReplicas": args.max_replicas,
                    "metrics": _autoscaling_metrics(args),
                },
            ),
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[deployment])),
        )
        k8s.policy.v1.PodDisruptionBudget(
            f"{name}-pdb",
            metadata=metadata(),
            # maxUnavailable, not minAvailable: a single replica must not block node drains forever.
            spec=cast(
                k8s.policy.v1.PodDisruptionBudgetSpecArgsDict,
                {"maxUnavailable": 1, "selector": {"matchLabels": selector}},
            ),
            opts=child,
        )
        clients = client_ingress(args)
        if clients:
            k8s.networking.v1.NetworkPolicy(
                f"{name}-clients",
                metadata=cast("k8s.meta.v1.ObjectMetaArgsDict", {**metadata(), "name": f"{name}-clients"}),
                spec=cast(
                    "k8s.networking.v1.NetworkPolicySpecArgsDict",
                    {
                        "podSelector": {"matchLabels": selector},
                        "policyTypes": ["Ingress"],
                        "ingress": [{"from": clients, "ports": [{"protocol": "TCP", "port": DEFAULT_PORT}]}],
                    },
                ),
                opts=child,
            )
        self.service_name = name
        self.url = f"http://{name}.{args.namespace}.svc.cluster.local"
        self.register_outputs({"serviceName": self.service_name, "url": self.url})
