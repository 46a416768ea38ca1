"""The `aiinfra` command as a user runs it: exit codes, JSON shape, export, error output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from aiinfra.cli import main

REPO = Path(__file__).resolve().parents[2]
AIINFRA = [sys.executable, "-m", "aiinfra.cli"]


def run_cli(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    """The command with its output piped, as in a CI log (no COLUMNS from the test's own terminal)."""
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    return subprocess.run([*AIINFRA, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False)


def write_stack(project: Path, name: str, platform: dict) -> None:
    (project / "stacks" / f"Pulumi.{name}.yaml").write_text(yaml.safe_dump({"config": {"aiinfra:platform": platform}}))


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_stack_plans_to_preview_shaped_json(stack, capsys):
    assert main(["plan", "--stack", stack, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert {"steps", "changeSummary", "policyViolations", "cost", "diagnostics"} <= set(doc)
    urns = {s["urn"] for s in doc["steps"]}
    for step in doc["steps"]:
        assert step["op"] == "create"
        state = step["newState"]
        assert state["urn"] == step["urn"] and state["type"] and isinstance(state["inputs"], dict)
        if state["type"] != "pulumi:pulumi:Stack":
            assert state["parent"] in urns
    assert doc["changeSummary"]["create"] == len(doc["steps"])
    types = {s["newState"]["type"] for s in doc["steps"]}
    assert {"aiinfra:index:Cluster", "aws:eks/cluster:Cluster", "aws:ec2/vpc:Vpc"} <= types


def test_two_plans_of_the_same_commit_print_the_same_bytes():
    """The SDK gathers dependencies in sets, whose order follows the string hash seed; two runs
    under different seeds stand for two runs on two days."""
    outputs = []
    for seed in ("1", "2"):
        env = {k: v for k, v in os.environ.items() if k != "COLUMNS"} | {"PYTHONHASHSEED": seed}
        result = subprocess.run(
            [*AIINFRA, "plan", "--stack", "dev", "--json"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        outputs.append(result.stdout)
    assert any(s["newState"].get("dependencies") for s in json.loads(outputs[0])["steps"])
    assert outputs[0] == outputs[1]


def test_inputs_use_engine_property_names_and_hide_secrets(capsys):
    main(["plan", "--stack", "dev", "--json"])
    doc = json.loads(capsys.readouterr().out)
    eks = next(s["newState"] for s in doc["steps"] if s["newState"]["type"] == "aws:eks/cluster:Cluster")
    assert "vpcConfig" in eks["inputs"] and "vpc_config" not in eks["inputs"]
    provider = next(s["newState"] for s in doc["steps"] if s["newState"]["type"] == "pulumi:providers:kubernetes")
    assert provider["inputs"]["kubeconfig"] == "[secret]"


def test_the_terminal_plan_shows_the_tree_and_summary():
    result = run_cli("plan", "--stack", "dev")
    assert result.returncode == 0, result.stderr
    assert "aiinfra:index:Cluster" in result.stdout and "dev-aws" in result.stdout
    assert "to create" in result.stdout
    # Piped output is wide enough that each cost row stays one line.
    rows = result.stdout.splitlines()
    assert any("interface endpoints (4 services x 2 zones)" in row and "$58.40" in row for row in rows)
    assert any("l4" in row and "g6.xlarge" in row and "~$0.00 – ~$1,175.01" in row for row in rows)


def test_export_writes_manifests_per_cluster_and_iam_documents(tmp_path, capsys):
    assert main(["plan", "--stack", "dev", "--json", "--export", str(tmp_path)]) == 0
    manifests = list((tmp_path / "kubernetes" / "dev-aws").glob("*.yaml"))
    namespace = yaml.safe_load((tmp_path / "kubernetes" / "dev-aws" / "namespace_aiinfra-system.yaml").read_text())
    assert manifests and namespace["kind"] == "Namespace" and namespace["apiVersion"] == "v1"
    documents = {p.name: json.loads(p.read_text()) for p in (tmp_path / "iam").glob("*.json")}
    trust = next(d for name, d in documents.items() if "assumeRolePolicy" in name and "cluster" in name)
    assert trust["Statement"][0]["Principal"] == {"Service": "eks.amazonaws.com"}


def test_invalid_spec_exits_2_with_every_problem_and_no_traceback(project):
    write_stack(
        project,
        "bad",
        {
            "clusters": [
                {
                    "name": "a",
                    "cloud": "aws",
                    "region": "us-east-1",
                    "node_pools": [
                        {"name": "p", "accelerator": "H100:9", "nodes": {"max": 1}},
                        {"name": "q", "accelerator": "TPU-v5p:2x2x2"},
                    ],
                },
                {
                    "name": "g",
                    "cloud": "gcp",
                    "region": "us-central1",
                    "node_pools": [{"name": "e", "accelerator": "H100:8", "fabric": "efa", "nodes": {"max": 1}}],
                },
            ]
        },
    )
    result = run_cli("plan", "--stack", "bad", cwd=project)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert result.stderr.splitlines() == [
        "error: clusters[0].node_pools[0].accelerator: 'H100:9' — H100 comes 1 or 8 per node on aws "
        "(p5.4xlarge: 1, p5.48xlarge: 8)",
        "error: clusters[0].node_pools[1].accelerator: 'TPU-v5p:2x2x2' — TPUs exist only on gcp; on aws choose a "
        "GPU: A100-40GB, A100-80GB, H100, H200, L4",
        "error: clusters[1].node_pools[0].fabric: 'efa' — efa exists only on aws; gcp GPU fabrics are rdma, tcpxo",
    ]


def test_invalid_spec_creates_nothing_when_exporting(project, tmp_path):
    write_stack(project, "bad", {"clusters": [{"name": "a", "cloud": "aws"}]})
    out = tmp_path / "review"
    result = run_cli("plan", "--stack", "bad", "--json", "--export", str(out), cwd=project)
    assert result.returncode == 2 and not out.exists() and result.stdout == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["plan", "--stack", "nope"],
            "error: --stack: 'nope' — no stacks/Pulumi.nope.yaml; known stacks: dev, hybrid, prod",
        ),
        (["validate", "--stack", "nope"], "known stacks: dev, hybrid, prod"),
        (["-C", "/nonexistent", "plan", "--stack", "dev"], "no Pulumi.yaml here; pass -C DIR"),
    ],
)
def test_usage_errors_exit_2(args, message, capsys):
    assert main(args) == 2
    assert message in capsys.readouterr().err


def test_broken_yaml_points_at_the_line(project):
    (project / "stacks" / "Pulumi.dev.yaml").write_text("config:\n  aiinfra:platform: {clusters: [\n")
    result = run_cli("validate", "--stack", "dev", cwd=project)
    assert result.returncode == 2 and "Pulumi.dev.yaml:" in result.stderr and "not valid YAML" in result.stderr


def test_bad_team_file_is_named(project):
    (project / "stacks" / "teams" / "rogue.yaml").write_text("team: Rogue\nowners: []\n")
    result = run_cli("validate", "--stack", "dev", cwd=project)
    assert result.returncode == 2
    assert "error: stacks/teams/rogue.yaml: team: 'Rogue' — must be a lower-case DNS label" in result.stderr
    assert "error: stacks/teams/rogue.yaml: owners: no owner; list at least one e-mail" in result.stderr


def test_validate_and_schema(capsys):
    assert main(["validate", "--stack", "prod"]) == 0
    assert "stack prod: valid — 4 clusters, 8 node pools" in capsys.readouterr().out
    assert main(["validate", "--stack", "dev"]) == 0
    assert "stack dev: valid — 1 cluster, 2 node pools" in capsys.readouterr().out
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["title"] == "aiinfra:platform" and "clusters" in schema["properties"]


def test_validate_runs_the_component_checks_plan_would_fail_on_all_in_one_round(project, capsys):
    """A spot pool on InfiniBand is a valid spec but an AKS refusal; so is a second one on another cluster:
    validate names both, each under its stack path, as plan would."""
    pool = {"name": "ndh100", "accelerator": "H100:8", "nodes": {"min": 0, "max": 2}, "capacity": {"type": "spot"}}
    cluster = {"name": "ib", "cloud": "azure", "region": "eastus", "kubernetes_version": "1.33", "node_pools": [pool]}
    write_stack(project, "ib", {"clusters": [cluster, {**cluster, "name": "ib2"}]})
    assert main(["-C", str(project), "validate", "--stack", "ib"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert lines[0].startswith("error: clusters[0]: ib.node_pools.ndh100.capacity_type: 'spot' — Standard_ND96")
    assert lines[1].startswith("error: clusters[1]: ib2.node_pools.ndh100.capacity_type: 'spot'")


def test_a_secret_the_stack_names_but_does_not_set_is_an_error_at_its_field(project, capsys):
    """Misspelled config keys for the on-prem kubeconfig and pull secret: named by stack path, with the command
    that sets them, before anything is built."""
    hybrid = project / "stacks" / "Pulumi.hybrid.yaml"
    text = hybrid.read_text()
    hybrid.write_text(
        text.replace("aiinfra:onpremKubeconfig:", "aiinfra:onpremKubeConfig:").replace(
            "aiinfra:harborPull:", "aiinfra:harborpull:"
        )
    )
    assert main(["-C", str(project), "validate", "--stack", "hybrid"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "error: clusters[3].kubeconfig: 'onpremKubeconfig' is not in the stack's config; set it: pulumi config set "
        "--secret onpremKubeconfig < kubeconfig",
        "error: registries[3].pull_secret: 'harborPull' is not in the stack's config; set it: pulumi config set "
        "--secret harborPull < config.json",
    ]


def test_plans_any_pulumi_python_program_with_C(tmp_path, capsys):
    (tmp_path / "Pulumi.yaml").write_text("name: other\nruntime: python\n")
    (tmp_path / "Pulumi.test.yaml").write_text("config:\n  aws:region: eu-west-1\n  other:size: 3\n")
    (tmp_path / "__main__.py").write_text(
        "import pulumi, pulumi_aws as aws\n"
        "size = pulumi.Config().require_int('size')\n"
        "for i in range(size):\n"
        "    aws.s3.Bucket(f'b{i}')\n"
    )
    assert main(["-C", str(tmp_path), "plan", "--stack", "test", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [s["urn"].rsplit("::", 1)[1] for s in doc["steps"]] == ["other-test", "b0", "b1", "b2"]


def test_a_failing_program_is_reported_as_one_line(tmp_path):
    (tmp_path / "Pulumi.yaml").write_text("name: broken\nruntime: python\n")
    (tmp_path / "Pulumi.test.yaml").write_text("config: {}\n")
    (tmp_path / "__main__.py").write_text("import pulumi\npulumi.Config().require('missing')\n")
    result = run_cli("plan", "--stack", "test", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "missing" in result.stderr


def test_help_imports_neither_pulumi_nor_torch():
    probe = (
        "import sys, runpy; sys.argv = ['aiinfra', '--help']\n"
        "try:\n    runpy.run_module('aiinfra.cli', run_name='__main__')\nexcept SystemExit:\n    pass\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('pulumi', 'torch', 'pydantic', 'rich'))\n"
        "print('HEAVY', heavy)"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert "usage: aiinfra" in result.stdout and "HEAVY []" in result.stdout


def test_prod_is_the_whole_hybrid_platform(capsys):
    assert main(["plan", "--stack", "prod", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    by_type: dict[str, list[str]] = {}
    for step in doc["steps"]:
        by_type.setdefault(step["newState"]["type"], []).append(step["urn"].rsplit("::", 1)[1])
    assert sorted(by_type["aiinfra:index:Cluster"]) == ["rack-onprem", "train-aws", "train-azure", "train-gcp"]
    for adapter in ("aws:EksCluster", "gcp:GkeCluster", "azure:AksCluster", "kubernetes:OnPremCluster"):
        assert len(by_type[f"aiinfra:{adapter}"]) == 1
    assert len(by_type["aiinfra:kubernetes:PlatformLayer"]) == 4
    assert sorted(by_type["aiinfra:index:DataLake"]) == ["lake-aws", "lake-azure", "lake-gcp", "lake-onprem"]
    # vision asks for H100 and TPU-v5p, nlp for H100: both on every cluster with H100s.
    assert len(by_type["aiinfra:kubernetes:Tenancy"]) == 8
    assert by_type["aiinfra:workloads:TrainingJob"] == ["llm-pretrain"]
    assert doc["policyViolations"] == []


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--sarif", "{tmp}/missing/a.sarif"], "error: --sarif: {tmp}/missing: no such directory"),
        (["--junit", "{tmp}"], "error: --junit: {tmp} is a directory; give the name of a file in it"),
        (["--against", "HEAD", "--markdown", "/proc/pr.md"], "error: --markdown: '/proc/pr.md' — cannot write there"),
        (["--export", "{tmp}/file/review"], "error: --export: '{tmp}/file/review' — {tmp}/file is not a directory"),
    ],
)
def test_an_output_that_cannot_be_written_exits_2_before_anything_is_planned(
    flags, message, tmp_path, monkeypatch, capsys
):
    (tmp_path / "file").write_text("")

    def never(*_args, **_kwargs):
        raise AssertionError("planned although an output path is bad")

    monkeypatch.setattr("aiinfra.pipeline.compute_plan", never)
    args = [flag.format(tmp=tmp_path) for flag in flags]
    assert main(["plan", "--stack", "dev", *args]) == 2
    assert capsys.readouterr().err.startswith(message.format(tmp=tmp_path))
