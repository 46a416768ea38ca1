"""Property-based hostile input (hypothesis): mutated stacks and team files, and arbitrary bytes as YAML, end
as a valid spec or an InputError naming where — never another exception. Derandomized, so CI is repeatable."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiinfra.cli import main
from aiinfra.core.errors import InputError
from aiinfra.spec import build_platform
from aiinfra.stack import read_yaml

REPO = Path(__file__).resolve().parents[2]
PROD = yaml.safe_load((REPO / "stacks" / "Pulumi.prod.yaml").read_text())["config"]["aiinfra:platform"]
TEAMS = [
    (f"stacks/teams/{p.name}", yaml.safe_load(p.read_text())) for p in sorted((REPO / "stacks" / "teams").glob("*"))
]
STACKS = ["dev", "prod"]
FUZZ = settings(derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.sampled_from(["", "H100:8", "TPU-v5p:2x2x2", "cpu", "us-east-1a", "1.3", "../..", "a" * 300, "\x00"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)


def paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path to a value inside a JSON-like document."""
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, child in node.items():
            found += paths(child, (*prefix, key))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            found += paths(child, (*prefix, index))
    return found


@st.composite
def mutated(draw: st.DrawFn, document: Any) -> Any:
    """`document` with a few of its values replaced, deleted, or given an unknown sibling."""
    doc = copy.deepcopy(document)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        targets = paths(doc)
        if not targets:
            break
        path = draw(st.sampled_from(targets))
        parent = doc
        for step in path[:-1]:
            parent = parent[step]
        action = draw(st.sampled_from(["replace", "delete", "sibling"]))
        if action == "replace":
            parent[path[-1]] = draw(values)
        elif action == "delete":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.text(max_size=8))] = draw(values)
        else:
            parent.append(draw(values))
    return doc


def spec_or_input_error(raw: Any, teams: list[tuple[str, Any]]) -> None:
    try:
        build_platform(raw, teams, stack="prod", stacks=STACKS)
    except InputError as err:
        assert err.problems and all(str(p) for p in err.problems)


@FUZZ
@given(mutated(PROD))
def test_mutated_stacks_are_valid_or_input_errors(raw):
    spec_or_input_error(raw, TEAMS)


@FUZZ
@given(st.integers(min_value=0, max_value=len(TEAMS) - 1), st.data())
def test_mutated_team_files_are_valid_or_input_errors(which, data):
    teams = list(TEAMS)
    teams[which] = (teams[which][0], data.draw(mutated(teams[which][1])))
    spec_or_input_error(PROD, teams)


@FUZZ
@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_any_bytes_read_as_yaml_or_an_input_error(tmp_path_factory, content):
    path = tmp_path_factory.mktemp("yaml") / "Pulumi.s.yaml"
    path.write_bytes(content)
    try:
        read_yaml(path)
    except InputError as err:
        assert str(path) in str(err)


@settings(FUZZ, max_examples=8)
@given(mutated(yaml.safe_load((REPO / "stacks" / "Pulumi.dev.yaml").read_text())["config"]["aiinfra:platform"]))
def test_validate_of_a_mutated_stack_exits_0_or_2_without_a_traceback(tmp_path_factory, raw):
    """The whole command, the program under the mock runtime included (few examples: each runs it)."""
    project = tmp_path_factory.mktemp("project")
    for name in ("Pulumi.yaml", "__main__.py"):
        (project / name).write_text((REPO / name).read_text())
    (project / "stacks" / "teams").mkdir(parents=True)
    for name, team in TEAMS:
        (project / name).write_text(yaml.safe_dump(team))
    (project / "stacks" / "Pulumi.dev.yaml").write_text(yaml.safe_dump({"config": {"aiinfra:platform": raw}}))
    assert main(["-C", str(project), "validate", "--stack", "dev"]) in (0, 2)
