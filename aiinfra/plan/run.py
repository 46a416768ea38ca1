"""`aiinfra plan` and `aiinfra validate`: load a project's stack, run it offline, report."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from aiinfra.errors import EXIT_OK, EXIT_POLICY
from aiinfra.spec import PlatformSpec, build_platform
from aiinfra.stack import Project, load_project, load_stack_config, read_team_files

PLATFORM_KEY = "aiinfra:platform"


def _platform(project: Project, config: dict[str, str]) -> PlatformSpec:
    return build_platform(
        json.loads(config[PLATFORM_KEY]) if PLATFORM_KEY in config else None, read_team_files(project.config_dir)
    )


def load_platform(root: Path, stack: str) -> PlatformSpec:
    project = load_project(root)
    config, _ = load_stack_config(project, stack)
    return _platform(project, config)


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
    project = load_project(root)
    config, secret_keys = load_stack_config(project, stack)
    if PLATFORM_KEY in config:
        # An aiinfra stack: report every spec problem before running anything.
        _platform(project, config)

    from aiinfra.plan.engine import run_program
    from aiinfra.plan.mocks import PlanMocks
    from aiinfra.plan.preview import preview_document
    from aiinfra.policy.stage import PolicyStage

    with PolicyStage(project, stack, config, secret_keys, policy_packs, policy_configs) as policy_stage:
        run = run_program(project, stack, config, secret_keys, PlanMocks())
        policy = policy_stage.check(run, sarif=sarif, junit=junit)
    document = preview_document(run, config, secret_keys)
    document["policyViolations"] = policy.as_json()
    if export_dir is not None:
        from aiinfra.plan.export import export

        export(run, project.root / export_dir)  # relative to -C DIR, as every path flag is
    if as_json:
        json.dump(document, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    else:
        from rich.console import Console

        from aiinfra.plan.report import render
        from aiinfra.policy.report import render_table

        console = Console()
        render(run, document, console)
        render_table(policy, console)
    return EXIT_POLICY if policy.blocking else EXIT_OK
