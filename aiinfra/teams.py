"""`aiinfra team new`: scaffold a team request (stacks/teams/<team>.yaml) that every stack accepts."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from aiinfra.core.errors import InputError, Problem
from aiinfra.output import write_atomically
from aiinfra.spec import DNS_LABEL, build_platform, declared_capacity, describe_capacity
from aiinfra.stack import load_project, load_stack_config, read_team_files

QUOTA = re.compile(r"^(?P<stack>[^:=\s]+):(?P<model>[^=\s]+)=(?P<count>\d+)$")
HEADER = """\
# Team request, reviewed in a pull request. On `pulumi up` of each stack, every cluster with the
# accelerators asked for there gets namespace team-{team} with its Kueue queues and quota, a workload
# identity (service account `workload`), and read/write grants on the lake prefixes below.
"""


def parse_quotas(values: list[str]) -> dict[str, dict[str, int]]:
    """`prod:H100=8` flags → {prod: {H100: 8}}; one flag per stack and model."""
    quotas: dict[str, dict[str, int]] = {}
    for value in values:
        match = QUOTA.match(value)
        if match is None:
            raise InputError(Problem("--quota", f"{value!r} — write STACK:ACCELERATOR=COUNT, e.g. prod:H100=8"))
        per_stack = quotas.setdefault(match["stack"], {})
        if match["model"] in per_stack:
            given = f"{per_stack[match['model']]}, {match['count']}"
            raise InputError(Problem("--quota", f"{match['stack']}:{match['model']} given twice ({given}); keep one"))
        per_stack[match["model"]] = int(match["count"])
    return quotas


def render(request: dict, capacity_by_stack: dict[str, str]) -> str:
    """The request as YAML, with a comment listing what each stack's clusters hold."""
    capacity = "".join(f"#   {stack}: {text}\n" for stack, text in capacity_by_stack.items())
    return (
        HEADER.format(team=request["team"])
        + yaml.safe_dump({"team": request["team"], "owners": request["owners"]}, sort_keys=False)
        + "# Accelerators (GPUs, TPU chips) per stack; a quota applies on each cluster of the stack that has\n"
        + "# the model, up to what that cluster declares:\n"
        + capacity
        + yaml.safe_dump({"quotas": request["quotas"]}, sort_keys=False, default_flow_style=None)
        + yaml.safe_dump({"lake_prefixes": request["lake_prefixes"]}, sort_keys=False)
    )


def new_team(root: Path, team: str, owners: list[str], quota_flags: list[str], prefixes: list[str]) -> Path:
    """Write stacks/teams/<team>.yaml after checking it against every stack; nothing is written on error."""
    if not re.fullmatch(DNS_LABEL, team) or len(team) > 40:
        raise InputError(
            Problem("NAME", f"{team!r} — a team is a DNS label: lower-case letters, digits and '-', at most 40")
        )
    project = load_project(root)
    path = project.config_dir / "teams" / f"{team}.yaml"
    source = f"stacks/teams/{path.name}"
    if path.exists():
        raise InputError(Problem(source, "already exists; edit it (or remove it first)"))
    request = {
        "team": team,
        "owners": owners,
        "quotas": parse_quotas(quota_flags),
        "lake_prefixes": prefixes or [f"datasets/{team}/"],
    }
    teams = [t for t in read_team_files(project.config_dir) if t[0] != source] + [(source, request)]
    problems: list[Problem] = []
    capacity: dict[str, str] = {}
    for stack in project.stacks():
        config, _ = load_stack_config(project, stack)
        raw = json.loads(config["aiinfra:platform"]) if "aiinfra:platform" in config else None
        try:
            platform = build_platform(raw, teams, stack=stack, stacks=project.stacks())
        except InputError as err:
            # The project's own problems are not this request's; they show in `aiinfra validate`.
            mine = [p for p in err.problems if p.path.startswith(source)]
            problems += [p for p in mine if p not in problems]
            if not mine and stack in request["quotas"]:
                problems.append(
                    Problem(
                        "--quota",
                        f"{stack}: the stack has problems of its own, so a quota there cannot be checked against "
                        f"its clusters; fix them first (`aiinfra validate --stack {stack}`)",
                    )
                )
            continue
        capacity[stack] = describe_capacity(declared_capacity(platform))
    if problems:
        raise InputError(problems)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, render(request, capacity), source)
    return path
