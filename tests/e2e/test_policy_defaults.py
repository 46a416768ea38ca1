"""The project's own node daemons and fabric sidecars need no environment's policy config: adding any supported
pool, or training on one, keeps a stack at 0 violations under prod's config (see aiinfra.core.exceptions)."""

from __future__ import annotations

import json

import pytest
import yaml

from aiinfra.core.exceptions import REVIEWED_SIDECARS, REVIEWED_WORKLOADS
from tests.e2e.conftest import REPO
from tests.e2e.test_cli import run_cli

DAEMONSET = "kubernetes:apps/v1:DaemonSet"
JOBSET = "kubernetes:jobset.x-k8s.io/v1alpha2:JobSet"


@pytest.mark.slow
def test_prod_with_an_a3_ultra_pool_and_a_tcpxo_training_job_has_no_violation_under_prods_config(project):
    """Adding a supported pool, or training on one, needs no edit of any environment's policy config."""
    stack = project / "stacks" / "Pulumi.prod.yaml"
    doc = yaml.safe_load(stack.read_text())
    platform = doc["config"]["aiinfra:platform"]
    gcp = next(c for c in platform["clusters"] if c["cloud"] == "gcp")
    gcp["node_pools"].append(
        {"name": "a3ultra", "accelerator": "H200:8", "nodes": {"min": 0, "max": 2}, "zone": "us-central1-b"}
    )
    platform["workloads"].append(
        {
            "kind": "training",
            "name": "tcpxo-pretrain",
            "team": "nlp",
            "cluster": gcp["name"],
            "pool": "a3mega",
            "lake": "lake-gcp",
            "recipe": "1b",
            "steps": 100,
            "nodes": 2,
        }
    )
    stack.write_text(yaml.safe_dump(doc))
    result = run_cli(
        "plan",
        "--stack",
        "prod",
        "--json",
        "--policy-pack",
        str(REPO / "policies"),
        "--policy-config",
        str(REPO / "policies" / "config" / "prod.json"),
        cwd=project,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    plan = json.loads(result.stdout)
    assert plan["policyViolations"] == []
    workloads = {
        f"{s['newState']['inputs']['metadata'].get('namespace')}/{s['newState']['inputs']['metadata'].get('name')}"
        for s in plan["steps"]
        if s["newState"]["type"] == DAEMONSET
    }
    assert {e.workload for e in REVIEWED_WORKLOADS} <= workloads, "a reviewed daemon that no stack creates"
    jobsets = [s["newState"]["inputs"] for s in plan["steps"] if s["newState"]["type"] == JOBSET]
    sidecars = {
        c["name"]
        for j in jobsets
        for c in j["spec"]["replicatedJobs"][0]["template"]["spec"]["template"]["spec"].get("initContainers", [])
    }
    assert {s.container for s in REVIEWED_SIDECARS} <= sidecars


@pytest.mark.slow
def test_a_stack_without_policy_config_gets_the_packs_defaults_and_is_told(project):
    """A new `staging` stack has no policies/config/staging.json: the pack's ceilings still apply, and the plan
    says which defaults it used."""
    (project / "policies").symlink_to(REPO / "policies")
    doc = yaml.safe_load((project / "stacks" / "Pulumi.dev.yaml").read_text())
    pool = next(
        p for c in doc["config"]["aiinfra:platform"]["clusters"] for p in c["node_pools"] if p["accelerator"] != "cpu"
    )
    pool["nodes"] = {"min": 0, "max": 100}
    (project / "stacks" / "Pulumi.staging.yaml").write_text(yaml.safe_dump(doc))
    result = run_cli("plan", "--stack", "staging", cwd=project)
    assert result.returncode == 1, result.stderr[-3000:]
    output = " ".join(result.stdout.split())
    assert "no config for policy pack aiinfra" in output
    assert "gpu-count-ceiling maxGpus 64" in output and "gpu-cost-ceiling maxUsdPerHour 500" in output
    assert "exceed the ceiling of 64" in output
