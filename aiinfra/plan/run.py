"""`aiinfra plan` and `aiinfra validate`: load a project's stack, run it offline, report."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiinfra.cost import estimate
from aiinfra.errors import EXIT_OK, EXIT_POLICY
from aiinfra.spec import PlatformSpec, build_platform
from aiinfra.stack import Project, load_project, load_stack_config, read_team_files

if TYPE_CHECKING:
    from aiinfra.plan.engine import ProgramRun
    from aiinfra.policy.runner import PolicyReport

PLATFORM_KEY = "aiinfra:platform"


def _platform(project: Project, config: dict[str, str]) -> PlatformSpec:
    return build_platform(
        json.loads(config[PLATFORM_KEY]) if PLATFORM_KEY in config else None, read_team_files(project.config_dir)
    )


def load_platform(root: Path, stack: str) -> PlatformSpec:
    project = load_project(root)
    config, _ = load_stack_config(project, stack)
    return _platform(project, config)


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
    platform = _platform(project, config) if PLATFORM_KEY in config else None

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
) -> int:
    plan = compute_plan(root, stack, policy_packs=policy_packs, policy_configs=policy_configs, sarif=sarif, junit=junit)
    if export_dir is not None:
        from aiinfra.plan.export import export

        export(plan.run, plan.project.root / export_dir)  # relative to -C DIR, as every path flag is
    if as_json:
        json.dump(plan.document, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    else:
        from rich.console import Console

        from aiinfra.plan.report import render
        from aiinfra.policy.report import render_table

        console = Console()
        render(plan.run, plan.document, console)
        render_table(plan.policy, console)
    return EXIT_POLICY if plan.policy.blocking else EXIT_OK
