"""Pod security of team namespaces as `aiinfra plan --export` renders them for prod (tests/e2e/test_hybrid_stack.py
runs the same checks on the hybrid stack, a training job on every pool kind): no team namespace is left at Pod
Security `privileged` without its cluster's fabric admission policy bound to it, and every pod the stack deploys
into such a namespace is admitted by that exported policy, evaluated in a real CEL evaluator (tests/cel.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cel import denials
from tests.e2e.test_cli import run_cli

TEAM_LABEL = "aiinfra.dev/team"
ENFORCE = "pod-security.kubernetes.io/enforce"


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("prod")
    result = run_cli("plan", "--stack", "prod", "--export", str(out))
    assert result.returncode == 0, result.stderr
    return out


def privileged_team_namespaces(exported: Path) -> list[str]:
    """`cluster/namespace` of every team namespace PSA leaves privileged; each must have the policy bound."""
    found = []
    for cluster in sorted((exported / "kubernetes").iterdir()):
        for namespace in objects(cluster, "Namespace"):
            labels = namespace["metadata"]["labels"]
            if TEAM_LABEL not in labels:
                continue
            assert labels["pod-security.kubernetes.io/warn"] == "restricted"
            if labels[ENFORCE] != "restricted":
                assert labels[ENFORCE] == "privileged"
                assert binding_for(cluster, labels) is not None, f"{cluster.name}/{namespace['metadata']['name']}"
                found.append(f"{cluster.name}/{namespace['metadata']['name']}")
    return found


def admitted_pods(exported: Path) -> list[str]:
    """`cluster/workload` of every pod template deployed into a namespace the policy holds; each is admitted."""
    checked = []
    for cluster in sorted((exported / "kubernetes").iterdir()):
        labels = {n["metadata"]["name"]: n["metadata"]["labels"] for n in objects(cluster, "Namespace")}
        for namespace, name, pod in pod_templates(cluster):
            policy = binding_for(cluster, labels[namespace])
            if policy is None:
                continue
            assert denials(policy["spec"], {"apiVersion": "v1", "kind": "Pod", **pod}) == [], f"{cluster.name}/{name}"
            checked.append(f"{cluster.name}/{name}")
    return checked


def objects(cluster: Path, kind: str) -> list[dict[str, Any]]:
    found = [yaml.safe_load(path.read_text()) for path in sorted(cluster.glob("*.yaml"))]
    return [o for o in found if o["kind"] == kind]


def pod_templates(cluster: Path) -> list[tuple[str, str, dict[str, Any]]]:
    """(namespace, workload, pod template) of every JobSet and Deployment rendered for the cluster."""
    pods = [
        (o["metadata"]["namespace"], o["metadata"]["name"], job["template"]["spec"]["template"])
        for o in objects(cluster, "JobSet")
        for job in o["spec"]["replicatedJobs"]
    ]
    pods += [
        (o["metadata"]["namespace"], o["metadata"]["name"], o["spec"]["template"])
        for o in objects(cluster, "Deployment")
    ]
    return pods


def binding_for(cluster: Path, labels: dict[str, str]) -> dict[str, Any] | None:
    """The cluster's admission policy whose Deny binding selects a namespace with `labels`."""
    for binding in objects(cluster, "ValidatingAdmissionPolicyBinding"):
        spec = binding["spec"]
        wanted = spec["matchResources"]["namespaceSelector"]["matchLabels"]
        if "Deny" in spec["validationActions"] and wanted.items() <= labels.items():
            (policy,) = [
                p for p in objects(cluster, "ValidatingAdmissionPolicy") if p["metadata"]["name"] == spec["policyName"]
            ]
            return policy
    return None


def test_no_team_namespace_is_privileged_without_the_fabric_admission_policy(exported):
    # prod's GKE (TCPXO), AKS and on-prem (InfiniBand) clusters: the check is not vacuous.
    assert privileged_team_namespaces(exported) == [
        "rack-onprem/team-nlp",
        "rack-onprem/team-vision",
        "train-azure/team-nlp",
        "train-azure/team-vision",
        "train-gcp/team-nlp",
        "train-gcp/team-vision",
    ]


def test_the_model_server_in_a_fabric_namespace_is_admitted_by_its_clusters_policy(exported):
    assert admitted_pods(exported) == ["train-gcp/llm-chat"]


def test_exported_manifests_keep_kubernetes_integers(exported):
    # The engine carries numbers as doubles; kubectl would refuse `containerPort: 8000.0` in a reviewed manifest.
    (deployment,) = objects(exported / "kubernetes" / "train-gcp", "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert type(pod["securityContext"]["runAsUser"]) is int
    assert type(pod["containers"][0]["ports"][0]["containerPort"]) is int
