"""stacks/Pulumi.hybrid.yaml as a user runs it: a training job on every kind of accelerator pool and a model
server on every cloud validate, plan under prod's policy config with no violation, and render pods that ask for
their fabric's devices and reach their own cloud's lake."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.kubernetes.fabric import TCPXO_DAEMON_IMAGE
from tests.e2e.test_cli import run_cli
from tests.e2e.test_pod_admission import admitted_pods, privileged_team_namespaces

PROD_POLICY = "policies/config/prod.json"
FABRIC_DEVICES = {
    # JobSet → what its trainer container must request beyond GPUs/TPUs, and the lake URL it is handed.
    ("hy-aws", "train-efa"): ({"vpc.amazonaws.com/efa": "32", "hugepages-2Mi": "5120Mi"}, "s3://"),
    ("hy-gcp", "train-tcpxo"): ({}, "gs://"),
    ("hy-gcp", "train-rdma"): ({}, "gs://"),
    ("hy-gcp", "train-v5p"): ({"google.com/tpu": "4"}, "gs://"),
    ("hy-gcp", "train-v5e"): ({"google.com/tpu": "4"}, "gs://"),
    ("hy-azure", "train-ib"): ({"rdma/shared_ib": "1"}, "https://"),
    ("hy-onprem", "train-onprem-ib"): ({"rdma/shared_ib": "1"}, "s3://"),
    ("hy-onprem", "train-onprem"): ({}, "s3://"),
}
GKE_NETWORKS = {"train-tcpxo": "vpc8", "train-rdma": "rdma-7"}
"""A network only that fabric's multi-networking annotation attaches."""


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("hybrid")
    result = run_cli("plan", "--stack", "hybrid", "--policy-config", PROD_POLICY, "--json", "--export", str(out))
    assert result.returncode == 0, result.stderr
    (out / "plan.json").write_text(result.stdout)
    return out


def trainer_pod(exported: Path, cluster: str, job: str) -> dict[str, Any]:
    (path,) = (exported / "kubernetes" / cluster).glob(f"jobset_*_{job}.yaml")
    jobset = yaml.safe_load(path.read_text())
    return jobset["spec"]["replicatedJobs"][0]["template"]["spec"]["template"]


def test_the_stack_validates():
    result = run_cli("validate", "--stack", "hybrid")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "12 workloads" in result.stdout


def test_it_plans_with_no_policy_violation_under_prods_config(exported):
    plan = json.loads((exported / "plan.json").read_text())
    assert plan["policyViolations"] == []
    kinds = {s["newState"]["type"] for s in plan["steps"]}
    assert {"aiinfra:workloads:TrainingJob", "aiinfra:workloads:InferenceService"} <= kinds


@pytest.mark.parametrize(("cluster", "job"), sorted(FABRIC_DEVICES))
def test_every_training_job_requests_its_fabrics_devices_and_reaches_its_clouds_lake(exported, cluster, job):
    devices, lake_scheme = FABRIC_DEVICES[(cluster, job)]
    pod = trainer_pod(exported, cluster, job)
    (trainer,) = pod["spec"]["containers"]
    limits = trainer["resources"]["limits"]
    assert devices.items() <= limits.items()
    assert "nvidia.com/gpu" in limits or "google.com/tpu" in limits
    lake = trainer["command"][trainer["command"].index("--lake") + 1]
    assert lake.startswith(lake_scheme)
    if job in GKE_NETWORKS:
        assert GKE_NETWORKS[job] in pod["metadata"]["annotations"]["networking.gke.io/interfaces"]


@pytest.mark.parametrize("cluster", ["hy-aws", "hy-gcp", "hy-azure", "hy-onprem"])
def test_every_cloud_serves_a_model_on_a_gpu_with_probes(exported, cluster):
    (path,) = (exported / "kubernetes" / cluster).glob("deployment_team-vision_chat-*.yaml")
    (server,) = yaml.safe_load(path.read_text())["spec"]["template"]["spec"]["containers"]
    assert {"startupProbe", "readinessProbe", "livenessProbe"} <= set(server)
    assert server["resources"]["limits"]["nvidia.com/gpu"] == "1"


def test_every_fabrics_training_pod_is_admitted_by_its_clusters_admission_policy(exported):
    # The checks of tests/e2e/test_pod_admission.py on this stack: nlp trains on TCPXO, GKE RDMA and InfiniBand
    # pools, so its namespaces there are privileged at PSA with the fabric admission policy bound, and each
    # training pod passes that exported policy, evaluated in CEL.
    assert privileged_team_namespaces(exported) == ["hy-azure/team-nlp", "hy-gcp/team-nlp", "hy-onprem/team-nlp"]
    assert admitted_pods(exported) == [
        "hy-azure/train-ib",
        "hy-gcp/train-rdma",
        "hy-gcp/train-tcpxo",
        "hy-onprem/train-onprem-ib",
    ]


REGISTRIES = {
    # cluster → how its own cloud's registry names the images (tests/component/test_registry.py checks each).
    "hy-aws": r"\d{12}\.dkr\.ecr\.us-east-1\.amazonaws\.com/hybrid/",
    "hy-gcp": r"us-central1-docker\.pkg\.dev/[a-z0-9-]+/aiinfra-hybrid/",
    "hy-azure": r"acr[0-9a-f]+\.azurecr\.io/",
    "hy-onprem": r"harbor\.rack\.example\.com/aiinfra/",
}


def team_containers(exported: Path) -> list[tuple[str, str, str]]:
    """(cluster, object file, image) of every container and init container in a team namespace."""
    found = []
    for path in sorted((exported / "kubernetes").glob("*/*_team-*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            found += [(path.parent.name, path.name, image) for image in _images(document)]
    return found


def _images(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["image"]] if isinstance(node.get("image"), str) and "name" in node else []
        return own + [image for value in node.values() for image in _images(value)]
    if isinstance(node, list):
        return [image for value in node for image in _images(value)]
    return []


def test_every_team_container_runs_an_image_built_here_by_digest_from_its_clouds_registry(exported):
    containers = team_containers(exported)
    assert {cluster for cluster, _, _ in containers} == set(REGISTRIES)
    vendor = []
    for cluster, source, image in containers:
        if re.match(rf"^{REGISTRIES[cluster]}aiinfra-(training|training-xla|serving)@sha256:[0-9a-f]{{64}}$", image):
            continue
        vendor.append((cluster, source, image))
    # The one reviewed vendor sidecar (aiinfra.core.exceptions.REVIEWED_SIDECARS): Google publishes the TCPXO
    # receive-datapath manager by tag only.
    assert vendor == [("hy-gcp", "jobset_team-nlp_train-tcpxo.yaml", TCPXO_DAEMON_IMAGE)]
    plan = json.loads((exported / "plan.json").read_text())
    built = [s for s in plan["steps"] if s["newState"]["type"] == "docker-build:index:Image"]
    # One build per image per registry: XLA only where TPU pools train.
    assert sorted(s["urn"].rsplit("::", 1)[1] for s in built) == [
        "aws-images-aiinfra-serving",
        "aws-images-aiinfra-training",
        "azure-images-aiinfra-serving",
        "azure-images-aiinfra-training",
        "gcp-images-aiinfra-serving",
        "gcp-images-aiinfra-training",
        "gcp-images-aiinfra-training-xla",
        "onprem-images-aiinfra-serving",
        "onprem-images-aiinfra-training",
    ]


@pytest.mark.parametrize("cluster", ["hy-aws", "hy-gcp", "hy-azure", "hy-onprem"])
def test_only_on_prem_team_accounts_pull_with_the_registrys_secret_which_is_never_exported(exported, cluster):
    """The on-prem registry's `pull_secret`: a dockerconfigjson Secret on each on-prem team's service account;
    cloud nodes pull with their identity."""
    accounts = {
        path.name: yaml.safe_load(path.read_text())
        for path in (exported / "kubernetes" / cluster).glob("serviceaccount_team-*_workload.yaml")
    }
    secrets = sorted((exported / "kubernetes" / cluster).glob("secret_team-*_registry-pull.yaml"))
    assert accounts
    if cluster != "hy-onprem":
        assert secrets == [] and all("imagePullSecrets" not in a for a in accounts.values())
        return
    assert len(secrets) == len(accounts)
    for path in secrets:
        secret = yaml.safe_load(path.read_text())
        assert secret["type"] == "kubernetes.io/dockerconfigjson" and secret["stringData"] == "[secret]"
    assert all(a["imagePullSecrets"] == [{"name": "registry-pull"}] for a in accounts.values())
