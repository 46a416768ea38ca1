"""The plan pipeline behind `aiinfra plan`, `validate` and `report`: load a project's stack, run its program
offline, check it with the policy packs, price it, and report."""

from __future__ import annotations

import json
import sys
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiinfra.core.errors import EXIT_OK, EXIT_POLICY, InputError, Problem
from aiinfra.cost import estimate
from aiinfra.output import check_directory, check_writable, write_atomically
from aiinfra.spec import PlatformSpec, build_platform
from aiinfra.stack import Project, load_project, load_stack_config, read_team_files

if TYPE_CHECKING:
    from aiinfra.plan.engine import ProgramRun
    from aiinfra.policy.runner import PolicyReport

PLATFORM_KEY = "aiinfra:platform"


def _platform(project: Project, stack: str, config: dict[str, str]) -> PlatformSpec:
    return build_platform(
        _config_value(config[PLATFORM_KEY]) if PLATFORM_KEY in config else None,
        read_team_files(project.config_dir),
        stack=stack,
        stacks=project.stacks(),
    )


def _config_value(value: str) -> Any:
    """A config value as the program reads it: objects arrive as JSON; plain text stays text (and
    `build_platform` says it must be a mapping)."""
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


def load_platform(root: Path, stack: str) -> PlatformSpec:
    project = load_project(root)
    config, _ = load_stack_config(project, stack)
    return _platform(project, stack, config)


def validate_stack(root: Path, stack: str) -> PlatformSpec:
    """Every input check `plan` makes, policy aside: the spec and team files first (all their problems at
    once), then the program under the mock runtime, whose components check what only they know (a spot
    pool on InfiniBand, a capacity type the cloud does not sell). Raises InputError."""
    project = load_project(root)
    config, secret_keys = load_stack_config(project, stack)
    platform = _platform(project, stack, config)

    from aiinfra.plan.engine import run_program
    from aiinfra.plan.mocks import PlanMocks

    run_program(project, stack, config, secret_keys, PlanMocks())
    return platform


@dataclass(frozen=True)
class Plan:
    """One offline plan: what the program registered, its preview JSON and the policy verdicts."""

    project: Project
    stack: str
    platform: PlatformSpec | None
    """None for a plain Pulumi program without `aiinfra:platform`."""
    run: ProgramRun
    document: dict[str, Any]
    policy: PolicyReport


def compute_plan(
    root: Path,
    stack: str,
    *,
    policy_packs: list[Path] | None = None,
    policy_configs: list[Path] | None = None,
    sarif: Path | None = None,
    junit: Path | None = None,
) -> Plan:
    """Validate the stack (every spec problem before anything runs), run it, check it against the packs."""
    project = load_project(root)
    config, secret_keys = load_stack_config(project, stack)
    platform = _platform(project, stack, config) if PLATFORM_KEY in config else None

    from aiinfra.plan.engine import run_program
    from aiinfra.plan.mocks import PlanMocks
    from aiinfra.plan.preview import preview_document
    from aiinfra.policy.stage import PolicyStage

    with PolicyStage(project, stack, config, secret_keys, policy_packs, policy_configs) as policy_stage:
        run = run_program(project, stack, config, secret_keys, PlanMocks())
        policy = policy_stage.check(run, sarif=sarif, junit=junit)
    document = preview_document(run, config, secret_keys)
    document["policyViolations"] = policy.as_json()
    if platform is not None:
        document["cost"] = estimate(platform, stack)
    return Plan(project=project, stack=stack, platform=platform, run=run, document=document, policy=policy)


def plan_command(
    root: Path,
    stack: str,
    *,
    as_json: bool,
    export_dir: Path | None,
    policy_packs: list[Path] | None = None,
    policy_configs: list[Path] | None = None,
    sarif: Path | None = None,
    junit: Path | None = None,
    against: str | None = None,
    markdown: Path | None = None,
) -> int:
    """Plan `stack`, print it, and with `against` (a git ref or an earlier --json file) what changes
    relative to it. The exit code is the current plan's policy verdict either way."""
    if markdown is not None and against is None:
        raise InputError(Problem("--markdown", "compares with a base; add --against REF or --against FILE.json"))
    _check_outputs(root, markdown=markdown, sarif=sarif, junit=junit, export=export_dir)
    with ExitStack() as stack_of_base:
        base = None
        if against is not None:
            from aiinfra.plan.against import base_plan

            base = stack_of_base.enter_context(
                base_plan(root, against, stack, _policy_args(policy_packs, policy_configs))
            )
        plan = compute_plan(
            root, stack, policy_packs=policy_packs, policy_configs=policy_configs, sarif=sarif, junit=junit
        )
        diff = None
        if base is not None and against is not None:
            from aiinfra.plan.diff import compare

            diff = compare(base(), plan.document, base=against)
    if export_dir is not None:
        from aiinfra.plan.export import export

        export(plan.run, plan.project.root / export_dir)  # relative to -C DIR, as every path flag is
    if diff is not None and markdown is not None:
        from aiinfra.plan.diff import render_markdown

        write_atomically(plan.project.root / markdown, render_markdown(diff, stack), "--markdown")
    if as_json:
        document = plan.document if diff is None else {**plan.document, "diff": diff}
        json.dump(document, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    else:
        _print_plan(plan, diff)
    return EXIT_POLICY if plan.policy.blocking else EXIT_OK


def _check_outputs(root: Path, *, export: Path | None, **files: Path | None) -> None:
    """Every output path, before the plan runs: a typo should not cost a whole plan (or exit 1 after it)."""
    for flag, path in files.items():
        if path is not None:
            check_writable(root / path, f"--{flag}")
    if export is not None:
        check_directory(root / export, "--export")


def _policy_args(packs: list[Path] | None, configs: list[Path] | None) -> list[str]:
    """The policy flags again, for planning the base the same way (paths stay relative to its project)."""
    return [f"--policy-pack={p}" for p in packs or []] + [f"--policy-config={c}" for c in configs or []]


def _print_plan(plan: Plan, diff: dict[str, Any] | None) -> None:
    from aiinfra.plan.report import plan_console, render
    from aiinfra.policy.report import render_table

    console = plan_console()
    render(plan.run, plan.document, console)
    render_table(plan.policy, console)
    if diff is not None:
        from aiinfra.plan.diff import render_terminal

        render_terminal(diff, console)
