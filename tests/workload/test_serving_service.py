"""The serving deploy component under the mock engine: valid Kubernetes objects (kubernetes-validate),
the pod a GPU pool needs, shutdown timing, autoscaling inputs, and refusals."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pulumi_kubernetes as k8s
import pytest

from aiinfra.core.catalog import resolve
from aiinfra.core.errors import InputError
from components.common import Taint
from tests.conftest import of_type, one
from workloads.deploy.inference_service import InferenceService, InferenceServiceArgs
from workloads.serving.local import add_arguments

REPO = Path(__file__).resolve().parents[2]
KUBERNETES_VERSION = "1.33.0"
KINDS = {
    "Deployment": "kubernetes:apps/v1:Deployment",
    "Service": "kubernetes:core/v1:Service",
    "HorizontalPodAutoscaler": "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
    "PodDisruptionBudget": "kubernetes:policy/v1:PodDisruptionBudget",
}
MANIFEST_KEYS = ("apiVersion", "kind", "metadata", "spec")


def serving_args(**overrides) -> dict:
    return {
        "image": "registry.example.com/aiinfra-serving@sha256:" + "cd" * 32,
        "namespace": "vision",
        "service_account": "vision-workload",
        "model_url": "s3://lake-aws/models/llm-chat/",
        "shape": resolve("aws", "H100:8"),
        "pool": "h100",
        "tags": {"cost-center": "ml-platform"},
        **overrides,
    }


def render(run_mocked, **overrides):
    def program():
        provider = k8s.Provider("cluster", kubeconfig="{}")
        InferenceService("llm-chat", InferenceServiceArgs(provider=provider, **serving_args(**overrides)))

    return run_mocked(program)


def manifests(run) -> dict[str, dict]:
    return {kind: {k: one(run, t).inputs[k] for k in MANIFEST_KEYS} for kind, t in KINDS.items()}


def pod(run) -> dict:
    return manifests(run)["Deployment"]["spec"]["template"]["spec"]


def test_every_object_is_valid_kubernetes_and_matches_the_snapshot(run_mocked, snapshot):
    run = render(run_mocked)
    rendered = manifests(run)
    for manifest in rendered.values():
        kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
    assert rendered == snapshot
    assert one(run, "aiinfra:workloads:InferenceService").name == "llm-chat"
    assert all(r.provider and "cluster" in r.provider for t in KINDS.values() for r in of_type(run, t))


def test_replicas_get_one_gpu_on_the_pool_as_a_locked_down_non_root_pod(run_mocked):
    spec = pod(render(run_mocked, pool_taints=(Taint("dedicated", "serving"),)))
    (container,) = spec["containers"]
    assert container["resources"]["requests"]["nvidia.com/gpu"] == "1"
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert set(container["resources"]["limits"]) == {"cpu", "memory", "nvidia.com/gpu"}
    assert spec["nodeSelector"] == {"aiinfra.dev/pool": "h100"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in spec["tolerations"]
    assert {"key": "dedicated", "operator": "Equal", "value": "serving", "effect": "NoSchedule"} in spec["tolerations"]
    assert spec["serviceAccountName"] == "vision-workload"
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert {m["mountPath"] for m in container["volumeMounts"]} == {"/tmp"}
    assert {c["topologyKey"] for c in spec["topologySpreadConstraints"]} == {
        "topology.kubernetes.io/zone",
        "kubernetes.io/hostname",
    }
    assert not container["image"].endswith(":latest")


def test_probes_hit_the_servers_health_endpoints(run_mocked):
    (container,) = pod(render(run_mocked, startup_timeout_s=600))["containers"]
    assert container["startupProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["startupProbe"]["periodSeconds"] * container["startupProbe"]["failureThreshold"] == 600
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"


def test_the_grace_period_covers_deregistration_and_draining(run_mocked):
    spec = pod(render(run_mocked, deregistration_delay_s=15, drain_timeout_s=45))
    (container,) = spec["containers"]
    assert container["lifecycle"]["preStop"] == {"sleep": {"seconds": 15}}
    assert spec["terminationGracePeriodSeconds"] > 15 + 45
    drain_flag = container["args"].index("--drain-timeout-s")
    assert container["args"][drain_flag + 1] == "45"


def test_the_container_arguments_are_the_local_serve_flags(run_mocked):
    (container,) = pod(
        render(run_mocked, max_batch_size=32, max_wait_ms=2.5, max_queue=512, lake_endpoint_url="https://minio:9000")
    )["containers"]
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    flags = parser.parse_args(container["args"])
    assert (flags.model, flags.host, flags.port, flags.device) == (
        "s3://lake-aws/models/llm-chat/",
        "0.0.0.0",
        8000,
        "cuda",
    )
    assert (flags.max_batch_size, flags.max_wait_ms, flags.max_queue) == (32, 2.5, 512)
    assert flags.endpoint_url == "https://minio:9000"
    assert container["ports"] == [{"name": "http", "containerPort": flags.port, "protocol": "TCP"}]


@pytest.mark.parametrize(
    "model", ["gs://lake-gcp/models/llm-chat/", "https://lakeazure.dfs.core.windows.net/models/llm-chat/"]
)
def test_an_endpoint_serves_gcs_and_adls_models_too(run_mocked, model):
    (container,) = pod(render(run_mocked, model_url=model, lake_endpoint_url="http://store.lake.svc:9000"))[
        "containers"
    ]
    args = container["args"]
    assert args[args.index("--model") + 1] == model
    assert args[args.index("--endpoint-url") + 1] == "http://store.lake.svc:9000"


def test_a_cpu_pool_serves_without_gpus(run_mocked):
    (container,) = pod(render(run_mocked, shape=resolve("aws", "cpu"), pool="system"))["containers"]
    assert "nvidia.com/gpu" not in container["resources"]["limits"]
    assert container["args"][container["args"].index("--device") + 1] == "cpu"


def test_the_hpa_scales_on_cpu_and_with_an_adapter_on_queue_depth_and_gpu_use(run_mocked):
    plain = manifests(render(run_mocked, min_replicas=2, max_replicas=6))["HorizontalPodAutoscaler"]["spec"]
    assert (plain["minReplicas"], plain["maxReplicas"]) == (2, 6)
    assert plain["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "llm-chat"}
    assert [m["type"] for m in plain["metrics"]] == ["Resource"]

    hpa = manifests(render(run_mocked, custom_metrics=True, target_queue_depth=4))["HorizontalPodAutoscaler"]
    kubernetes_validate.validate(hpa, KUBERNETES_VERSION, strict=True)
    pods_metrics = {
        m["pods"]["metric"]["name"]: m["pods"]["target"] for m in hpa["spec"]["metrics"] if m["type"] == "Pods"
    }
    assert pods_metrics == {
        "aiinfra_queue_depth": {"type": "AverageValue", "averageValue": "4"},
        "DCGM_FI_DEV_GPU_UTIL": {"type": "AverageValue", "averageValue": "80"},
    }


def test_no_replica_count_fights_the_hpa_and_the_pdb_never_blocks_a_drain(run_mocked):
    rendered = manifests(render(run_mocked))
    assert "replicas" not in rendered["Deployment"]["spec"]
    assert rendered["PodDisruptionBudget"]["spec"]["maxUnavailable"] == 1


@pytest.mark.parametrize(
    ("cloud", "accelerator", "annotation"),
    [
        ("aws", "H100:8", {"service.beta.kubernetes.io/aws-load-balancer-scheme": "internal"}),
        ("gcp", "H100:8", {"networking.gke.io/load-balancer-type": "Internal"}),
        ("azure", "H100:8", {"service.beta.kubernetes.io/azure-load-balancer-internal": "true"}),
    ],
)
def test_an_internal_load_balancer_only_when_asked(run_mocked, cloud, accelerator, annotation):
    shape = resolve(cloud, accelerator)
    assert manifests(render(run_mocked, shape=shape))["Service"]["spec"]["type"] == "ClusterIP"
    run = render(run_mocked, shape=shape, internal_load_balancer=True, client_cidrs=("10.0.0.0/16",))
    service = manifests(run)["Service"]
    kubernetes_validate.validate(service, KUBERNETES_VERSION, strict=True)
    assert service["spec"]["type"] == "LoadBalancer"
    assert annotation.items() <= service["metadata"]["annotations"].items()


def test_only_the_teams_own_pods_get_in_unless_clients_are_listed(run_mocked):
    assert of_type(render(run_mocked), "kubernetes:networking.k8s.io/v1:NetworkPolicy") == []
    run = render(run_mocked, client_namespaces=("team-nlp", "monitoring"), client_cidrs=("10.20.0.1/16",))
    policy = one(run, "kubernetes:networking.k8s.io/v1:NetworkPolicy").inputs
    manifest = {k: policy[k] for k in MANIFEST_KEYS}
    kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
    assert policy["metadata"]["name"] == "llm-chat-clients" and policy["metadata"]["namespace"] == "vision"
    pods = manifests(run)["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= pods.items()
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    assert policy["spec"]["ingress"] == [
        {
            "from": [
                {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "team-nlp"}}},
                {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}},
                {"ipBlock": {"cidr": "10.20.0.0/16"}},
            ],
            "ports": [{"protocol": "TCP", "port": 8000}],
        }
    ]
    container = pod(run)["containers"][0]
    assert {"name": "http", "containerPort": 8000, "protocol": "TCP"} in container["ports"]


def test_a_load_balancer_needs_client_networks_and_those_must_be_narrow(run_mocked):
    with pytest.raises(InputError) as raised:
        render(
            run_mocked,
            internal_load_balancer=True,
            client_namespaces=("Team_NLP",),
            client_cidrs=("0.0.0.0/0", "10.1.0.0/33"),
        )
    assert [(p.path, p.message) for p in raised.value.problems] == [
        ("llm-chat.client_namespaces[0]", "'Team_NLP' — must be a DNS label"),
        ("llm-chat.client_cidrs[0]", "0.0.0.0/0 — opens the server to every address; list the callers' networks"),
        ("llm-chat.client_cidrs[1]", "'10.1.0.0/33' — not a CIDR"),
    ]
    with pytest.raises(InputError, match="load balancer would reach nothing; list client_cidrs"):
        render(run_mocked, internal_load_balancer=True)


def test_azure_pods_opt_into_workload_identity(run_mocked):
    labels = manifests(render(run_mocked, shape=resolve("azure", "H100:8")))["Deployment"]["spec"]["template"]
    assert labels["metadata"]["labels"]["azure.workload.identity/use"] == "true"


def test_every_bad_argument_is_reported_at_once(run_mocked):
    with pytest.raises(InputError) as raised:
        render(
            run_mocked,
            image="registry.example.com/aiinfra-serving:latest",
            namespace="Vision",
            shape=resolve("gcp", "TPU-v5p:2x2x2"),
            min_replicas=3,
            max_replicas=2,
            max_batch_size=64,
            max_queue=32,
            lake_endpoint_url="https://minio:9000",
            model_url="/mnt/models/llm-chat/",
        )
    paths = {p.path for p in raised.value.problems}
    assert paths == {
        f"llm-chat.{arg}" for arg in ("image", "namespace", "shape", "min_replicas", "max_queue", "lake_endpoint_url")
    }


def test_refusals_of_gpu_counts_and_load_balancers_the_pool_cannot_have(run_mocked):
    onprem = resolve("onprem", "H100:8", fabric="infiniband")
    with pytest.raises(InputError) as raised:
        render(run_mocked, shape=onprem, gpus_per_replica=9, internal_load_balancer=True)
    assert {p.path for p in raised.value.problems} == {"llm-chat.gpus_per_replica", "llm-chat.internal_load_balancer"}
    with pytest.raises(InputError, match="no GPUs"):
        render(run_mocked, shape=resolve("aws", "cpu"), gpus_per_replica=1)
    with pytest.raises(InputError, match="pin a tag or digest"):
        render(run_mocked, image="registry.example.com/aiinfra-serving")


SERVING = REPO / "workloads" / "serving"


def dockerfile_instructions() -> list[tuple[str, list[str]]]:
    text = (SERVING / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.split() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(words[0], words[1:]) for words in lines]


def test_the_image_holds_every_module_the_server_imports():
    code = (
        "import sys, workloads.serving.__main__, workloads.serving.app\n"
        "print(*(m.__file__ for m in list(sys.modules.values()) if getattr(m, '__file__', None)))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True).stdout
    repo_modules = {
        path.relative_to(REPO).as_posix()
        for path in map(Path, loaded.split())
        if path.is_relative_to(REPO) and ".venv" not in path.parts
    }
    copied = [src for op, words in dockerfile_instructions() if op == "COPY" for src in words[:-1]]
    missing = {
        module
        for module in repo_modules
        if module not in copied and not any(src.endswith("/") and module.startswith(src) for src in copied)
    }
    assert not missing, f"the Dockerfile does not copy {sorted(missing)}"


def test_the_image_is_pinned_and_runs_as_the_pods_non_root_user(run_mocked):
    instructions = dict(dockerfile_instructions())
    base = instructions["FROM"][0]
    assert ":" in base and not base.endswith(":latest")
    assert instructions["USER"] == ["10001:10001"]
    assert pod(render(run_mocked))["securityContext"]["runAsUser"] == 10001
    requirements = [
        line for line in (SERVING / "requirements.txt").read_text().splitlines() if not line.startswith("#")
    ]
    assert requirements and all("==" in line for line in requirements)
