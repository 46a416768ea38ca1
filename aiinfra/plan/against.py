"""The base of `aiinfra plan --against`: an earlier `--json` file, or the same stack planned at a git
ref. A ref is planned in a subprocess with that tree's own code (its program, components and
aiinfra), so nothing it imports mixes with what this process has imported; it runs while the
current plan is computed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import aiinfra
from aiinfra.core.errors import EXIT_OK, EXIT_POLICY, InputError, Problem
from aiinfra.cost import estimate
from aiinfra.interrupts import forget_child, kill_child_group, start_child, temporary_path
from aiinfra.plan.diff import is_plan_document
from aiinfra.spec import PlatformSpec
from aiinfra.stack import load_project

FLAG = "--against"
OWN_CODE = Path(aiinfra.__file__).resolve().parent.parent
"""Where this aiinfra is imported from: the fallback for a base tree that has no aiinfra/ of its own."""


def _error(against: str, message: str) -> InputError:
    return InputError(Problem(FLAG, f"{against!r} — {message}"))


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, check=True).stdout.strip()


def _checked(document: Any, against: str, what: str) -> dict[str, Any]:
    if not is_plan_document(document):
        raise _error(
            against, f"{what} is not a plan document (no `steps` with URNs); give `aiinfra plan --json` output"
        )
    return document


def _read_file(path: Path, against: str, stack: str) -> dict[str, Any]:
    """An earlier `--json` of the same stack: another stack's resources have other URNs, so comparing them
    would list everything as removed and added."""
    try:
        document = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as err:
        raise _error(against, f"cannot read it ({err})") from None
    except json.JSONDecodeError as err:
        raise _error(against, f"not JSON ({err}); give the output of `aiinfra plan --json`") from None
    document = _checked(document, against, "the file")
    planned = sorted({step["urn"].removeprefix("urn:pulumi:").split("::")[0] for step in document["steps"]})
    if planned and planned != [stack]:
        raise _error(
            against,
            f"a plan of stack {', '.join(planned)}, not {stack}; give an earlier `aiinfra plan --stack {stack} --json`",
        )
    return document


def _extract(root: Path, commit: str, into: Path, against: str) -> None:
    """The commit's tree (the whole repository) under `into`, without touching the repository."""
    archive = ["git", "-C", str(root), "archive", "--format=tar", commit]
    with subprocess.Popen(archive, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as git:
        assert git.stdout is not None and git.stderr is not None
        with tarfile.open(fileobj=git.stdout, mode="r|") as tar:
            tar.extractall(into, filter="data")
        message = git.stderr.read().decode(errors="replace").strip()
    if git.returncode != 0:
        raise _error(against, f"`git archive {commit[:12]}` failed: {message}")


def _base_error(stderr: str) -> str:
    """The base plan's own error lines (`error: ...`), or the last line of whatever it printed."""
    errors = [line.removeprefix("error: ") for line in stderr.splitlines() if line.startswith("error: ")]
    if errors:
        return "; ".join(errors)
    lines = [line for line in stderr.splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


@contextmanager
def _planned_at_ref(
    root: Path, against: str, stack: str, plan_args: list[str]
) -> Iterator[Callable[[], dict[str, Any]]]:
    try:
        top = Path(_git(root, "rev-parse", "--show-toplevel"))
        prefix = _git(root, "rev-parse", "--show-prefix")
    except (OSError, subprocess.CalledProcessError):
        raise _error(against, f"not a file, and {root} is not in a git repository to read a ref from") from None
    try:
        commit = _git(root, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{against}^{{commit}}")
    except subprocess.CalledProcessError:
        raise _error(
            against,
            "no such file or git ref; give a branch, tag, sha, HEAD~1, or a file that `aiinfra plan --json` wrote",
        ) from None

    scratch = Path(tempfile.mkdtemp(prefix="aiinfra-against-"))
    with temporary_path(scratch):
        try:
            _extract(top, commit, scratch / "tree", against)
            if not _has_stack(scratch / "tree" / prefix, stack):
                # A change that adds the environment: everything is new, and it cost nothing before.
                yield lambda: empty_plan(stack)
                return
            with (scratch / "out.json").open("w+") as out, (scratch / "err.txt").open("w+") as err:
                base = _start(scratch / "tree", prefix, stack, plan_args, out, err)
                try:
                    yield lambda: _finish(base, out, err, against, f"stack {stack!r} at {commit[:12]}")
                finally:
                    if base.poll() is None:
                        kill_child_group(base)
                    forget_child(base)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)


def _has_stack(project: Path, stack: str) -> bool:
    """Whether the project at the ref has the stack at all (it may predate the stack, or the project)."""
    try:
        return stack in load_project(project).stacks()
    except InputError:
        return False


def empty_plan(stack: str) -> dict[str, Any]:
    """The plan of a stack that does not exist yet: no resources, no violations, nothing to pay."""
    return {"steps": [], "policyViolations": [], "cost": estimate(PlatformSpec(), stack)}


def _start(tree: Path, prefix: str, stack: str, plan_args: list[str], out: IO, err: IO) -> subprocess.Popen:
    """`aiinfra plan --json` of the project at `tree/prefix`, importing that tree's own code first."""
    project = tree / prefix
    pythonpath = [str(project), str(tree), str(OWN_CODE), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in pythonpath if p)}
    command = [sys.executable, "-m", "aiinfra.cli", "-C", str(project), "plan", "--stack", stack, "--json", *plan_args]
    # A session of its own: stopping it (kill_child_group) stops the packs it starts too, whatever its version.
    return start_child(command, cwd=project, env=env, stdout=out, stderr=err, start_new_session=True)


def _finish(base: subprocess.Popen, out: IO, err: IO, against: str, what: str) -> dict[str, Any]:
    """The base's plan document once it is done; exit 1 (policy violations) still printed one."""
    base.wait()
    out.seek(0)
    err.seek(0)
    if base.returncode not in (EXIT_OK, EXIT_POLICY):
        raise _error(against, f"planning {what} failed: {_base_error(err.read())}")
    try:
        return _checked(json.load(out), against, f"the plan of {what}")
    except json.JSONDecodeError:
        raise _error(against, f"the plan of {what} printed no JSON") from None


@contextmanager
def base_plan(root: Path, against: str, stack: str, plan_args: list[str]) -> Iterator[Callable[[], dict[str, Any]]]:
    """Use as `with base_plan(...) as base: <plan the current tree>; document = base()`.

    `against` is a file (relative to the project, as every path flag) or a git ref; `plan_args` are
    the policy flags to plan the ref with. Bad input raises InputError on --against, on entry or
    from base()."""
    path = root / against
    if path.is_file():
        document = _read_file(path, against, stack)
        yield lambda: document
    elif against.endswith(".json"):
        raise _error(against, f"no such file ({path})")
    else:
        with _planned_at_ref(root, against, stack, plan_args) as result:
            yield result
