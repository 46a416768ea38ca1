"""`aiinfra plan --against REF|FILE.json` on a throwaway git repository holding a copy of this project."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PROJECT_FILES = ("Pulumi.yaml", "__main__.py", "aiinfra", "components", "workloads", "policies", "stacks")
SPEECH_TEAM = (
    "team: speech\nowners: [speech-lead@example.com]\nquotas:\n  dev: {L4: 1}\nlake_prefixes: [datasets/speech/]\n"
)


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        check=True,
        capture_output=True,
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository whose `infra/` subdirectory is this project (code, program, stacks, policies),
    committed; returns the project directory."""
    project = tmp_path / "repo" / "infra"
    project.mkdir(parents=True)
    for name in PROJECT_FILES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, project / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, project / name)
    git(project.parent, "init", "-q")
    git(project.parent, "add", "-A")
    git(project.parent, "commit", "-q", "-m", "base")
    return project


def plan(project: Path, *args: str, tmp: Path) -> subprocess.CompletedProcess:
    """This checkout's `aiinfra plan` on `project`, with temporary files under `tmp` (to see them go)."""
    tmp.mkdir(exist_ok=True)
    return subprocess.run(
        [sys.executable, "-m", "aiinfra.cli", "-C", str(project), "plan", *args],
        cwd=REPO,
        env={**os.environ, "TMPDIR": str(tmp), "COLUMNS": "250"},  # wide enough for no wrapping
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def raise_l4_max_nodes(project: Path) -> None:
    stack = project / "stacks" / "Pulumi.dev.yaml"
    text = stack.read_text()
    assert "nodes: {min: 0, max: 2}" in text
    stack.write_text(text.replace("nodes: {min: 0, max: 2}", "nodes: {min: 0, max: 4}"))


def test_against_a_git_ref_shows_the_changed_pool_and_the_new_team(repo: Path, tmp_path: Path):
    raise_l4_max_nodes(repo)
    (repo / "stacks" / "teams" / "speech.yaml").write_text(SPEECH_TEAM)
    result = plan(repo, "--stack", "dev", "--against", "HEAD", "--markdown", "out.md", tmp=tmp_path / "tmp")
    assert result.returncode == 0, result.stderr
    assert "Against HEAD:" in result.stdout and "scalingConfig.maxSize: 2 → 4" in result.stdout
    markdown = (repo / "out.md").read_text()
    lines = markdown.splitlines()
    assert lines[0] == "### `aiinfra plan --stack dev` against `HEAD`"
    assert lines[2].startswith("**+") and "0 new policy violations**" in lines[2]
    assert "| ~ | `aws:eks/nodeGroup:NodeGroup` | `dev-aws-l4-ng` | `scalingConfig.maxSize: 2 → 4` |" in lines
    assert "| + | `kubernetes:core/v1:Namespace` | `dev-aws-speech-namespace` |  |" in lines
    assert not any(line.startswith("| - |") for line in lines)  # nothing was removed
    assert list((tmp_path / "tmp").iterdir()) == []  # the base's tree is gone


def test_against_a_json_file_adds_a_diff_key_to_the_json(repo: Path, tmp_path: Path):
    base = plan(repo, "--stack", "dev", "--json", tmp=tmp_path / "tmp")
    assert base.returncode == 0, base.stderr
    (repo / "base.json").write_text(base.stdout)
    raise_l4_max_nodes(repo)
    result = plan(repo, "--stack", "dev", "--json", "--against", "base.json", tmp=tmp_path / "tmp")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)  # nothing but the JSON
    diff = document["diff"]
    assert {"steps", "policyViolations", "cost"} <= set(document)
    assert diff["base"] == "base.json" and diff["added"] == diff["removed"] == []
    node_group = next(c for c in diff["changed"] if c["name"] == "dev-aws-l4-ng")
    assert node_group["group"] == "Cluster dev-aws"
    assert node_group["inputs"][0]["key"] == "scalingConfig"
    assert node_group["inputs"][0]["after"]["maxSize"] == 4


def test_violations_fixed_since_a_failing_base_and_the_exit_code_is_the_current_verdict(repo: Path, tmp_path: Path):
    """The base misses a required tag that the policy config makes mandatory: its plan exits 1 but
    still is a base; the current plan restores the tag and exits 0."""
    config_file = repo / "policies" / "config" / "dev.json"
    config = json.loads(config_file.read_text())
    config["required-tags"]["enforcementLevel"] = "mandatory"
    config_file.write_text(json.dumps(config))
    stack_file = repo / "stacks" / "Pulumi.dev.yaml"
    tagged = stack_file.read_text()
    stack_file.write_text(tagged.replace("      owner: platform@example.com\n", ""))
    git(repo, "commit", "-qam", "drop the owner tag")
    stack_file.write_text(tagged)

    fixed = plan(repo, "--stack", "dev", "--json", "--against", "HEAD", tmp=tmp_path / "tmp")
    assert fixed.returncode == 0, fixed.stderr
    policy = json.loads(fixed.stdout)["diff"]["policy"]
    assert policy["new"] == [] and policy["fixed"]
    assert {v["policyName"] for v in policy["fixed"]} == {"required-tags"}

    git(repo, "commit", "-qam", "restore the owner tag")
    stack_file.write_text(tagged.replace("      owner: platform@example.com\n", ""))
    broken = plan(repo, "--stack", "dev", "--against", "HEAD", "--markdown", "pr.md", tmp=tmp_path / "tmp")
    assert broken.returncode == 1, broken.stderr
    markdown = (repo / "pr.md").read_text()
    assert f"{len(policy['fixed'])} new policy violations ({len(policy['fixed'])} mandatory)**" in markdown
    assert "| mandatory | required-tags |" in markdown


@pytest.mark.parametrize(
    ("against", "message"),
    [
        ("no-such-branch", "error: --against: 'no-such-branch' — no such file or git ref"),
        ("missing.json", "error: --against: 'missing.json' — no such file"),
        ("Pulumi.yaml", "error: --against: 'Pulumi.yaml' — not JSON"),
    ],
)
def test_a_bad_against_exits_2_naming_it(repo: Path, tmp_path: Path, against: str, message: str):
    result = plan(repo, "--stack", "dev", "--against", against, tmp=tmp_path / "tmp")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith(message), result.stderr


def test_a_json_of_another_stack_exits_2_naming_both(repo: Path, tmp_path: Path):
    step = {"urn": "urn:pulumi:prod::aiinfra::pulumi:pulumi:Stack::aiinfra-prod", "op": "create", "newState": {}}
    (repo / "prod.json").write_text(json.dumps({"steps": [step]}))
    result = plan(repo, "--stack", "dev", "--against", "prod.json", tmp=tmp_path / "tmp")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr == (
        "error: --against: 'prod.json' — a plan of stack prod, not dev; "
        "give an earlier `aiinfra plan --stack dev --json`\n"
    )


def test_a_stack_new_since_the_ref_is_all_added_and_costs_nothing_before(repo: Path, tmp_path: Path):
    shutil.copy(repo / "stacks" / "Pulumi.dev.yaml", repo / "stacks" / "Pulumi.new.yaml")  # not committed
    result = plan(repo, "--stack", "new", "--json", "--against", "HEAD", tmp=tmp_path / "tmp")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    diff = document["diff"]
    assert diff["summary"] == {"added": len(document["steps"]), "changed": 0, "removed": 0, "unchanged": 0}
    total = diff["cost"]["total"]["monthly"]["max"]
    assert total == {"before": 0.0, "after": document["cost"]["total"]["monthly"]["max"], "delta": total["after"]}
    assert total["after"] > 0
    assert list((tmp_path / "tmp").iterdir()) == []


def test_a_base_that_fails_to_plan_exits_2_with_its_error(repo: Path, tmp_path: Path):
    stack_file = repo / "stacks" / "Pulumi.dev.yaml"
    good = stack_file.read_text()
    assert 'kubernetes_version: "1.33"' in good
    stack_file.write_text(good.replace('kubernetes_version: "1.33"', 'kubernetes_version: "1.99"'))
    git(repo, "commit", "-qam", "a broken base")
    stack_file.write_text(good)
    result = plan(repo, "--stack", "dev", "--against", "HEAD", tmp=tmp_path / "tmp")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith("error: --against: 'HEAD' — planning stack 'dev' at "), result.stderr
    assert "'1.99' — supported:" in result.stderr
    assert list((tmp_path / "tmp").iterdir()) == []


def test_a_ref_outside_a_git_repository_exits_2(tmp_path: Path):
    project = tmp_path / "project"
    project.mkdir()
    for name in ("Pulumi.yaml", "__main__.py", "stacks"):
        (shutil.copytree if (REPO / name).is_dir() else shutil.copy)(REPO / name, project / name)
    result = plan(project, "--stack", "dev", "--against", "HEAD", tmp=tmp_path / "tmp")
    assert result.returncode == 2 and "not in a git repository" in result.stderr and "Traceback" not in result.stderr


def test_markdown_without_against_exits_2(repo: Path, tmp_path: Path):
    result = plan(repo, "--stack", "dev", "--markdown", "out.md", tmp=tmp_path / "tmp")
    assert result.returncode == 2 and result.stderr.startswith("error: --markdown:")
