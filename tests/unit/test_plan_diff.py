"""The pure comparison of two plan documents and its Markdown / terminal renderings."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from rich.console import Console

from aiinfra.core.errors import InputError
from aiinfra.plan.against import base_plan
from aiinfra.plan.diff import compare, describe_inputs, headline, render_markdown, render_terminal

STACK_URN = "urn:pulumi:dev::aiinfra::pulumi:pulumi:Stack::aiinfra-dev"


def urn(type_: str, name: str) -> str:
    return f"urn:pulumi:dev::aiinfra::{type_}::{name}"


def document(resources: dict[str, dict], violations=(), cost=None) -> dict:
    """A plan document: `resources` is name → {type, parent (a name or None for the stack), inputs}."""
    steps = [{"op": "create", "urn": STACK_URN, "newState": {"urn": STACK_URN, "type": "pulumi:pulumi:Stack"}}]
    for name, r in resources.items():
        parent = resources[r["parent"]] if r.get("parent") else None
        state = {
            "urn": urn(r["type"], name),
            "type": r["type"],
            "custom": not r["type"].startswith("aiinfra:"),
            "inputs": r.get("inputs", {}),
            "parent": urn(parent["type"], r["parent"]) if parent else STACK_URN,
        }
        steps.append({"op": "create", "urn": state["urn"], "newState": state})
    return {"steps": steps, "policyViolations": list(violations), "cost": cost}


def cluster(pools: dict[str, int], *, kubeconfig: str = "[secret]", version: str = "1.33") -> dict[str, dict]:
    """A cluster component with an EKS cluster, a provider and a node group per pool (name → max nodes)."""
    resources = {
        "dev-aws": {"type": "aiinfra:index:Cluster"},
        "dev-aws-eks": {"type": "aws:eks/cluster:Cluster", "parent": "dev-aws", "inputs": {"version": version}},
        "dev-aws-k8s": {
            "type": "pulumi:providers:kubernetes",
            "parent": "dev-aws",
            "inputs": {"kubeconfig": kubeconfig},
        },
    }
    for pool, max_nodes in pools.items():
        resources[f"dev-aws-{pool}"] = {"type": "aiinfra:index:NodePool", "parent": "dev-aws"}
        resources[f"dev-aws-{pool}-ng"] = {
            "type": "aws:eks/nodeGroup:NodeGroup",
            "parent": f"dev-aws-{pool}",
            "inputs": {"scalingConfig": {"minSize": 0.0, "maxSize": float(max_nodes)}, "tags": {"env": "dev"}},
        }
    return resources


def violation(policy: str, name: str, *, level: str = "mandatory", waived: bool = False) -> dict:
    return {
        "policyPack": "aiinfra",
        "policyName": policy,
        "urn": urn("aws:eks/cluster:Cluster", name),
        "enforcementLevel": level,
        "message": f"{policy} failed",
        "waived": waived,
    }


def spans(hourly_min: float, hourly_max: float) -> dict:
    return {
        "hourly": {"min": hourly_min, "max": hourly_max},
        "monthly": {"min": round(hourly_min * 730, 2), "max": round(hourly_max * 730, 2)},
    }


def cost(clusters: dict[str, tuple[float, float]], teams: dict[str, float], lake_monthly: float | None) -> dict:
    total_min = sum(lo for lo, _ in clusters.values()) + (lake_monthly or 0) / 730
    total_max = sum(hi for _, hi in clusters.values()) + (lake_monthly or 0) / 730
    return {
        "currency": "USD",
        "hours_per_month": 730,
        "estimate": True,
        "total": spans(round(total_min, 2), round(total_max, 2)),
        "clusters": [{"name": name, "cloud": "aws", **spans(lo, hi)} for name, (lo, hi) in clusters.items()],
        "lakes": [] if lake_monthly is None else [{"name": "lake-aws", "monthly": lake_monthly}],
        "teams": [{"team": team, **spans(0.0, hi)} for team, hi in teams.items()],
        "notes": [],
    }


BEFORE = document(
    {**cluster({"l4": 2, "old": 1})},
    violations=[violation("eks-public-endpoint", "dev-aws-eks"), violation("tags", "dev-aws-eks", waived=True)],
    cost=cost({"dev-aws": (0.1, 1.9)}, {"nlp": 1.6}, None),
)
AFTER = document(
    {**cluster({"l4": 4, "h100": 2}, version="1.34")},
    violations=[
        violation("tags", "dev-aws-eks", waived=True),
        violation("gpu-ceiling", "dev-aws-eks", level="advisory"),
    ],
    cost=cost({"dev-aws": (0.1, 3.7), "gcp": (0.0, 2.0)}, {"vision": 2.5, "nlp": 1.6}, 23.0),
)


def test_resources_added_removed_and_changed_by_urn_with_their_component():
    diff = compare(BEFORE, AFTER, base="HEAD")
    assert diff["summary"] == {"added": 2, "changed": 2, "removed": 2, "unchanged": 4}
    assert [(e["type"], e["name"], e["group"]) for e in diff["added"]] == [
        ("aiinfra:index:NodePool", "dev-aws-h100", "Cluster dev-aws"),
        ("aws:eks/nodeGroup:NodeGroup", "dev-aws-h100-ng", "Cluster dev-aws"),
    ]
    assert [e["name"] for e in diff["removed"]] == ["dev-aws-old", "dev-aws-old-ng"]
    changed = {e["name"]: e for e in diff["changed"]}
    assert set(changed) == {"dev-aws-eks", "dev-aws-l4-ng"}
    assert changed["dev-aws-l4-ng"]["inputs"] == [
        {"key": "scalingConfig", "before": {"minSize": 0.0, "maxSize": 2.0}, "after": {"minSize": 0.0, "maxSize": 4.0}}
    ]
    assert describe_inputs(changed["dev-aws-l4-ng"]) == ["scalingConfig.maxSize: 2 → 4"]
    assert describe_inputs(changed["dev-aws-eks"]) == ['version: "1.33" → "1.34"']


def test_an_identical_plan_has_no_changes():
    diff = compare(BEFORE, copy.deepcopy(BEFORE), base="plan.json")
    assert diff["summary"] == {"added": 0, "changed": 0, "removed": 0, "unchanged": 8}
    assert diff["added"] == diff["changed"] == diff["removed"] == []
    assert diff["policy"] == {"new": [], "fixed": []}
    assert diff["cost"]["total"]["monthly"]["max"] == {"before": 1387.0, "after": 1387.0, "delta": 0.0}


def test_secrets_stay_masked_and_equal_secrets_are_not_a_change():
    before = document(cluster({}, kubeconfig="[secret]"))
    assert compare(before, document(cluster({}, kubeconfig="[secret]")), base="b")["changed"] == []
    diff = compare(document(cluster({}, kubeconfig="apiVersion: v1")), before, base="b")
    (provider,) = diff["changed"]
    assert provider["inputs"] == [{"key": "kubeconfig", "before": "apiVersion: v1", "after": "[secret]"}]
    assert describe_inputs(provider) == ['kubeconfig: "apiVersion: v1" → "[secret]"']


def test_long_values_show_only_the_top_level_key():
    big = {"type": "kubernetes:helm.sh/v3:Release", "inputs": {"values": {"a": "x" * 50}, "version": "1"}}
    changed = {**big, "inputs": {"values": {"a": "y" * 50}, "version": "1"}}
    (entry,) = compare(document({"r": big}), document({"r": changed}), base="b")["changed"]
    assert describe_inputs(entry) == ["values"]
    assert "x" * 50 not in render_markdown(compare(document({"r": big}), document({"r": changed}), base="b"), "dev")


def test_policy_delta_is_new_and_fixed_violations_and_waived_ones_do_not_count():
    policy = compare(BEFORE, AFTER, base="HEAD")["policy"]
    assert [v["policyName"] for v in policy["new"]] == ["gpu-ceiling"]
    assert [v["policyName"] for v in policy["fixed"]] == ["eks-public-endpoint"]


def test_cost_delta_per_total_cluster_lake_and_team():
    cost = compare(BEFORE, AFTER, base="HEAD")["cost"]
    assert cost["before_priced"] and cost["after_priced"] and cost["estimate"]
    assert cost["total"]["hourly"]["max"] == {"before": 1.9, "after": 5.73, "delta": 3.83}
    assert cost["total"]["monthly"]["min"] == {"before": 73.0, "after": 94.9, "delta": 21.9}
    clusters = {c["name"]: c for c in cost["clusters"]}
    assert list(clusters) == ["dev-aws", "gcp"]  # the after plan's order
    assert clusters["gcp"]["monthly"]["max"] == {"before": None, "after": 1460.0, "delta": 1460.0}
    assert cost["lakes"] == [{"name": "lake-aws", "monthly": {"before": None, "after": 23.0, "delta": 23.0}}]
    assert [t["team"] for t in cost["teams"]] == ["nlp", "vision"]  # by name
    assert cost["teams"][0]["monthly"]["max"]["delta"] == 0.0


def test_cost_null_on_one_side_is_not_priced():
    unpriced = {**BEFORE, "cost": None}
    diff = compare(unpriced, AFTER, base="HEAD")
    assert not diff["cost"]["before_priced"] and diff["cost"]["after_priced"]
    assert diff["cost"]["total"]["monthly"]["max"] == {"before": None, "after": 4182.9, "delta": None}
    assert "cost not priced" in headline(diff)
    markdown = render_markdown(diff, "dev")
    total = next(line for line in markdown.splitlines() if line.startswith("| total"))
    assert total.split(" | ")[1:] == ["not priced", "$0.13 – $5.73", "not priced", "$94.90 – $4,182.90", "unknown |"]
    assert compare(unpriced, {**AFTER, "cost": None}, base="HEAD")["cost"] is None


def test_headline_counts_resources_cost_at_max_and_new_violations():
    diff = compare(BEFORE, AFTER, base="HEAD")
    assert headline(diff) == (
        "+2 / ~2 / -2 resources, cost +$2,796/month at max (estimate; teams at full quota: vision +$1,825), "
        "1 new policy violation"
    )
    reverse = compare(AFTER, BEFORE, base="HEAD")
    assert headline(reverse) == (
        "+2 / ~2 / -2 resources, cost -$2,796/month at max (estimate; teams at full quota: vision -$1,825), "
        "1 new policy violation (1 mandatory)"
    )


def test_markdown_is_deterministic_and_independent_of_step_order(snapshot):
    markdown = render_markdown(compare(BEFORE, AFTER, base="origin/main"), "dev")
    shuffled = {**AFTER, "steps": list(reversed(AFTER["steps"]))}
    assert render_markdown(compare(BEFORE, shuffled, base="origin/main"), "dev") == markdown
    assert markdown == snapshot


def test_markdown_folds_long_groups_and_escapes_table_cells():
    many = {f"ns-{i:02d}": {"type": "kubernetes:core/v1:Namespace"} for i in range(12)}
    many["odd|name"] = {"type": "kubernetes:core/v1:Namespace"}
    markdown = render_markdown(compare(document({}), document(many), base="b"), "dev")
    assert "<details><summary>13 resources</summary>" in markdown
    assert "`odd\\|name`" in markdown
    assert "**+13 / ~0 / -0 resources, cost not priced, 0 new policy violations**" in markdown


def test_terminal_shows_headline_changes_cost_and_new_violations():
    console = Console(record=True, width=200)
    render_terminal(compare(BEFORE, AFTER, base="HEAD"), console)
    text = console.export_text()
    assert "Against HEAD: +2 / ~2 / -2 resources" in text
    assert "scalingConfig.maxSize: 2 → 4" in text and "dev-aws-old-ng" in text
    assert "cluster gcp" in text and "+$0.00 / +$1,460.00" in text
    assert "gpu-ceiling" in text


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "'base.json' — no such file"),
        ("not json", "'base.json' — not JSON"),
        ('{"steps": "x"}', "'base.json' — the file is not a plan document"),
    ],
)
def test_a_bad_base_file_is_an_input_error_on_against(tmp_path: Path, content, message):
    if content is not None:
        (tmp_path / "base.json").write_text(content)
    with pytest.raises(InputError) as err, base_plan(tmp_path, "base.json", "dev", []):
        pass
    (problem,) = err.value.problems
    assert problem.path == "--against" and problem.message.startswith(message)


def test_a_base_file_is_read_relative_to_the_project(tmp_path: Path):
    (tmp_path / "base.json").write_text(json.dumps(BEFORE))
    with base_plan(tmp_path, "base.json", "dev", []) as base:
        assert base() == BEFORE
