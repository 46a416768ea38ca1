"""Self-service teams as a user goes through them: scaffold a request, see it in the plan, get refused."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from aiinfra.cli import main


def plan_json(project: Path, stack: str, capsys) -> dict:
    assert main(["-C", str(project), "plan", "--stack", stack, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def named(doc: dict, type_: str, suffix: str) -> list[dict]:
    return [
        s["newState"]
        for s in doc["steps"]
        if s["newState"]["type"] == type_ and s["urn"].rsplit("::", 1)[1].endswith(suffix)
    ]


def test_a_new_team_request_shows_up_in_the_prod_plan(project, capsys):
    args = ["team", "new", "speech", "--owner", "lead@example.com", "--quota", "prod:H100=8", "--quota", "dev:L4=1"]
    assert main(["-C", str(project), *args]) == 0
    request = project / "stacks" / "teams" / "speech.yaml"
    assert "prod: H100 (train-aws: 32" in request.read_text()  # the reviewer sees what each stack holds
    assert yaml.safe_load(request.read_text()) == {
        "team": "speech",
        "owners": ["lead@example.com"],
        "quotas": {"prod": {"H100": 8}, "dev": {"L4": 1}},
        "lake_prefixes": ["datasets/speech/"],
    }
    capsys.readouterr()
    doc = plan_json(project, "prod", capsys)
    namespaces = named(doc, "kubernetes:core/v1:Namespace", "-speech-namespace")
    assert sorted(n["inputs"]["metadata"]["name"] for n in namespaces) == ["team-speech"] * 4  # every H100 cluster
    queue = named(doc, "kubernetes:kueue.x-k8s.io/v1beta2:ClusterQueue", "train-aws-speech-queue-h100")[0]
    h100 = queue["inputs"]["spec"]["resourceGroups"][0]["flavors"][0]["resources"][2]
    assert h100 == {"name": "nvidia.com/gpu", "nominalQuota": 0, "borrowingLimit": 8}
    assert len(named(doc, "kubernetes:kueue.x-k8s.io/v1beta2:LocalQueue", "-speech-local-queue-h100")) == 4
    assert len(named(doc, "aiinfra:index:WorkloadIdentity", "-speech")) == 4
    grant = named(doc, "aws:iam/rolePolicy:RolePolicy", "train-aws-speech-write-datasets-speech")[0]
    assert "datasets/speech/" in grant["inputs"]["policy"]
    # dev has one L4 cluster: the same file gives the team a namespace there too.
    dev = plan_json(project, "dev", capsys)
    assert len(named(dev, "kubernetes:core/v1:Namespace", "dev-aws-speech-namespace")) == 1


def test_a_request_that_does_not_fit_is_refused_and_nothing_is_written(project, capsys):
    args = ["team", "new", "speech", "--owner", "lead@example.com", "--quota", "prod:H100=64", "--quota", "prd:L4=1"]
    assert main(["-C", str(project), *args]) == 2
    err = capsys.readouterr().err
    assert "error: stacks/teams/speech.yaml: quotas.prod.H100: 64 — above the H100 any prod cluster declares" in err
    assert "quotas.prd: 'prd' — no stack of that name; known: dev, hybrid, prod; did you mean 'prod'?" in err
    assert "Traceback" not in err
    assert not (project / "stacks" / "teams" / "speech.yaml").exists()
    # An existing request is never overwritten.
    before = (project / "stacks" / "teams" / "nlp.yaml").read_text()
    assert main(["-C", str(project), "team", "new", "nlp", "--owner", "a@example.com"]) == 2
    assert "stacks/teams/nlp.yaml: already exists" in capsys.readouterr().err
    assert (project / "stacks" / "teams" / "nlp.yaml").read_text() == before


def test_a_hand_written_request_over_capacity_fails_the_plan_naming_file_and_fix(project, capsys):
    (project / "stacks" / "teams" / "greedy.yaml").write_text(
        "team: greedy\nowners: [g@example.com]\nquotas:\n  dev: {L4: 3}\n"
    )
    assert main(["-C", str(project), "plan", "--stack", "dev"]) == 2
    err = capsys.readouterr().err
    assert (
        "error: stacks/teams/greedy.yaml: quotas.dev.L4: 3 — above the L4 any dev cluster declares (dev-aws: 2)" in err
    )


def test_team_new_refuses_a_quota_it_cannot_check_or_given_twice(project, capsys):
    new = ["-C", str(project), "team", "new", "speech", "--owner", "lead@example.com"]
    assert main([*new, "--quota", "prod:H100=8", "--quota", "prod:H100=16"]) == 2
    assert "error: --quota: prod:H100 given twice (8, 16); keep one" in capsys.readouterr().err
    # A stack with a problem of its own cannot say whether a quota fits it: refused, not waved through.
    prod = project / "stacks" / "Pulumi.prod.yaml"
    prod.write_text(prod.read_text().replace("steps: ", "steps: -", 1))
    assert main([*new, "--quota", "prod:H100=999"]) == 2
    err = capsys.readouterr().err
    assert "error: --quota: prod: the stack has problems of its own, so a quota there cannot be checked" in err
    assert not (project / "stacks" / "teams" / "speech.yaml").exists()
    # A request that asks nothing of that stack is still written.
    assert main([*new, "--quota", "dev:L4=1"]) == 0
