"""Run a Pulumi Python program in-process under `pulumi.runtime.set_mocks` and record every
registration as the engine would see it: type, name, parent, provider, dependencies, and inputs
with engine (camelCase) property names.

Each run happens in a fresh `contextvars` context, so consecutive plans in one process (tests,
benchmarks) do not share a root stack or config.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import runpy
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, cast

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime.config import set_all_config
from pulumi.runtime.proto import engine_pb2
from pulumi.runtime.settings import SETTINGS, set_root_resource
from pulumi.runtime.stack import run_in_stack
from pulumi.runtime.sync_await import _sync_await

from aiinfra.core.errors import InputError, Problem
from aiinfra.stack import Project

STACK_TYPE = "pulumi:pulumi:Stack"


@dataclass
class Recorded:
    urn: str
    type: str
    name: str
    parent: str | None
    custom: bool
    provider: str | None
    """Provider reference `urn::id`, or None for the default provider."""
    inputs: dict[str, Any]
    outputs: dict[str, Any] = field(default_factory=dict)
    id: str | None = None
    protect: bool = False
    dependencies: list[str] = field(default_factory=list)
    property_dependencies: dict[str, list[str]] = field(default_factory=dict)
    aliases: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Diagnostic:
    severity: str
    message: str
    urn: str | None


@dataclass
class ProgramRun:
    project: str
    stack: str
    resources: list[Recorded]
    diagnostics: list[Diagnostic]

    @property
    def stack_outputs(self) -> dict[str, Any]:
        root = next((r for r in self.resources if r.type == STACK_TYPE), None)
        return root.outputs if root else {}

    def by_urn(self) -> dict[str, Recorded]:
        return {r.urn: r for r in self.resources}


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """The SDK's mock monitor, keeping the whole registration request rather than just the state."""

    def __init__(self, mocks: pulumi_mocks.Mocks):
        super().__init__(mocks)
        self.recorded: dict[str, Recorded] = {}

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        urn = response.urn
        inputs = {} if request.type == STACK_TYPE else rpc.deserialize_properties(request.object)
        registration = self.resources.get(urn)
        self.recorded[urn] = Recorded(
            urn=urn,
            type=request.type,
            name=request.name,
            parent=request.parent or None,
            custom=bool(request.custom),
            provider=request.provider or None,
            inputs=dict(inputs),
            outputs=dict(registration.state) if registration else {},
            id=registration.id if registration else None,
            protect=bool(request.protect),
            # The SDK collects these in sets, so their order changes run to run; sorted, a plan of
            # the same commit prints the same bytes every time.
            dependencies=sorted(set(request.dependencies)),
            property_dependencies={
                k: sorted(set(request.propertyDependencies[k].urns)) for k in sorted(request.propertyDependencies)
            },
            aliases=[a for a in request.aliasURNs],
        )
        return response

    def RegisterResourceOutputs(self, request):
        record = self.recorded.get(request.urn)
        if record is not None:
            record.outputs = dict(rpc.deserialize_properties(request.outputs))
        return super().RegisterResourceOutputs(request)


class RecordingEngine(pulumi_mocks.MockEngine):
    """Keeps `pulumi.log` messages as diagnostics, the way `pulumi preview` shows them."""

    SEVERITY: ClassVar[dict[int, str]] = {
        engine_pb2.DEBUG: "debug",
        engine_pb2.INFO: "info",
        engine_pb2.WARNING: "warning",
        engine_pb2.ERROR: "error",
    }

    def __init__(self):
        super().__init__(logging.getLogger("aiinfra.plan"))
        self.diagnostics: list[Diagnostic] = []

    def Log(self, request):
        severity = self.SEVERITY.get(request.severity, "info")
        if severity != "debug":
            self.diagnostics.append(Diagnostic(severity, request.message, request.urn or None))


class ProgramError(InputError):
    """The program itself failed (bad config it raised on, or a bug): reported without a traceback."""


def _program_failure(err: BaseException, main: Path) -> ProgramError:
    if isinstance(err, InputError):
        return ProgramError(err.problems)
    if isinstance(err, pulumi.RunError):
        return ProgramError(Problem(main.name, str(err)))
    frames = [f for f in traceback.extract_tb(err.__traceback__) if f.filename.startswith(str(main.parent))]
    where = f"{Path(frames[-1].filename).relative_to(main.parent)}:{frames[-1].lineno}" if frames else main.name
    return ProgramError(Problem(where, f"the program raised {type(err).__name__}: {err}"))


def run_program(
    project: Project,
    stack: str,
    config: dict[str, str],
    secret_keys: list[str],
    mocks: pulumi_mocks.Mocks,
    monitor: type[pulumi_mocks.MockMonitor] = RecordingMonitor,
) -> ProgramRun:
    """Run `project`'s program for `stack` under `mocks`; raise ProgramError if it fails.

    `monitor=MockMonitor` runs without recording (what the plan benchmark compares against)."""
    root = str(project.root.resolve())
    sys.path.insert(0, root)
    cwd = os.getcwd()
    os.chdir(root)
    try:
        return run_function(
            lambda: runpy.run_path(str(project.main), run_name="__main__"),
            mocks,
            project=project.name,
            stack=stack,
            config=config,
            secret_keys=secret_keys,
            main=project.main,
            monitor=monitor,
        )
    finally:
        os.chdir(cwd)
        sys.path.remove(root)


def run_function(
    program: Callable[[], object],
    mocks: pulumi_mocks.Mocks,
    *,
    project: str = "aiinfra",
    stack: str = "test",
    config: dict[str, str] | None = None,
    secret_keys: list[str] | None = None,
    main: Path | None = None,
    monitor: type[pulumi_mocks.MockMonitor] = RecordingMonitor,
) -> ProgramRun:
    """Run `program` as a Pulumi program body under `mocks` (what component tests use)."""
    return contextvars.copy_context().run(
        _run, program, monitor(mocks), project, stack, config or {}, secret_keys or [], main or Path("__main__.py")
    )


def _run(
    program: Callable[[], object],
    monitor: pulumi_mocks.MockMonitor,
    project: str,
    stack: str,
    config: dict[str, str],
    secret_keys: list[str],
    main: Path,
) -> ProgramRun:
    mocks = monitor.mocks
    engine = RecordingEngine()
    # A loop of its own per run: nothing left over from an earlier run (or an earlier
    # asyncio.run() elsewhere, which unsets the loop) can leak into this one.
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    set_root_resource(None)  # type: ignore[arg-type]  # None resets it; the SDK's annotation omits that
    pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=True, monitor=monitor)
    # SETTINGS' fields are ContextProperty descriptors, which pyright cannot see through.
    SETTINGS.engine = engine  # pyright: ignore[reportAttributeAccessIssue]
    SETTINGS.rpc_manager.clear()  # pyright: ignore[reportAttributeAccessIssue]
    SETTINGS.outputs.clear()  # pyright: ignore[reportAttributeAccessIssue]
    set_root_resource(None)  # type: ignore[arg-type]  # run_in_stack makes the program's own root
    set_all_config(config, secret_keys)
    try:
        _sync_await(run_in_stack(cast(Callable[[], None], program)))  # its result is ignored
    except Exception as err:
        raise _program_failure(err, main) from None
    recorded = monitor.recorded if isinstance(monitor, RecordingMonitor) else {}
    return ProgramRun(project, stack, _tree_order(list(recorded.values())), engine.diagnostics)


def _tree_order(resources: list[Recorded]) -> list[Recorded]:
    """Parents before children, siblings by URN: registration order varies between runs, and a
    plan must print the same way every time to be diffable."""
    children: dict[str | None, list[Recorded]] = {}
    for r in resources:
        children.setdefault(r.parent, []).append(r)
    ordered: list[Recorded] = []
    stack = sorted(children.get(None, []), key=lambda r: r.urn, reverse=True)
    while stack:
        node = stack.pop()
        ordered.append(node)
        stack.extend(sorted(children.get(node.urn, []), key=lambda r: r.urn, reverse=True))
    return ordered


def resource_label(urn: str | None) -> str:
    """`type name` of a URN (urn:pulumi:stack::project::parent$type::name), or "stack"."""
    if not urn:
        return "(stack)"
    *_, qualified_type, name = urn.split("::")
    return f"{qualified_type.rsplit('$', 1)[-1]} {name}"
