"""The policy stage of `aiinfra plan`. The packs start while the program runs (a pack takes about
as long to import as a small program takes to plan), `runner.PROCESSES_AT_START` copies each, then analyze
what it registered."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from datetime import date
from pathlib import Path

from aiinfra.plan.engine import STACK_TYPE, ProgramRun
from aiinfra.policy.analyzer import PolicyAnalyzer, StackContext
from aiinfra.policy.report import write_junit, write_sarif
from aiinfra.policy.runner import PolicyReport, evaluate, processes_for, resolve_packs
from aiinfra.stack import Project


def _start(packs: list[Path], context: StackContext) -> list[PolicyAnalyzer]:
    started: list[PolicyAnalyzer] = []
    try:
        for pack in packs:
            started.append(PolicyAnalyzer(pack, context, processes_for(0)))
    except BaseException:
        for analyzer in started:
            analyzer.close()
        raise
    return started


class PolicyStage:
    """Use as `with PolicyStage(...) as policy: run = run_program(...); report = policy.check(run)`."""

    def __init__(
        self,
        project: Project,
        stack: str,
        config: dict[str, str],
        secret_keys: list[str],
        packs: list[Path] | None,
        configs: list[Path] | None,
        today: date | None = None,
    ):
        self._project = project
        self._stack = stack
        self._today = today or date.today()
        self._packs = resolve_packs(project.root, stack, packs, configs)
        self._starter = ThreadPoolExecutor(max_workers=1)
        context = StackContext(project.name, stack, config, secret_keys)
        self._started: Future[list[PolicyAnalyzer]] = self._starter.submit(
            _start, [pack for pack, _ in self._packs], context
        )

    def check(self, run: ProgramRun, *, sarif: Path | None = None, junit: Path | None = None) -> PolicyReport:
        """Analyze `run` with every pack; write the SARIF and JUnit files asked for (paths relative to
        the project, as with `-C`)."""
        results = []
        for analyzer, (_, config_file) in zip(self._started.result(), self._packs, strict=True):
            analyzer.grow(processes_for(len(run.resources)))
            results.append(evaluate(analyzer, run, config_file, self._today))
        stack_file = self._project.stack_file(self._stack)
        report = PolicyReport(
            packs=results,
            stack_urn=next((r.urn for r in run.resources if r.type == STACK_TYPE), None),
            stack_file=stack_file.relative_to(self._project.root)
            if stack_file.is_relative_to(self._project.root)
            else None,
            today=self._today,
        )
        if sarif is not None:
            write_sarif(report, self._project.root / sarif)
        if junit is not None:
            write_junit(report, self._project.root / junit)
        return report

    def __enter__(self) -> PolicyStage:
        return self

    def __exit__(self, *_exc: object) -> None:
        """Stop the packs; a pack that failed to start only matters if check() was reached."""
        self._starter.shutdown(wait=True)
        if self._started.exception() is None:
            for analyzer in self._started.result():
                analyzer.close()
