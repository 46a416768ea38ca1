"""An install without the `workloads` extra (no torch, no server stack) plans, validates and runs the policy pack;
only the `local` commands need the extra, and they say so instead of failing with a traceback."""

from __future__ import annotations

import subprocess
import sys
import tomllib

import pytest

from aiinfra.cli import WORKLOADS_EXTRA
from tests.e2e.conftest import REPO

WITHOUT_EXTRA = f"""
import importlib.abc, sys
BLOCKED = {WORKLOADS_EXTRA!r}

class Missing(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None

sys.meta_path.insert(0, Missing())
from aiinfra.cli import main
sys.exit(main(sys.argv[1:]))
"""


def aiinfra_without_extra(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_EXTRA, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_the_extra_lists_what_the_cli_calls_it():
    extra = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]["workloads"]
    distributions = {name.split("[")[0].split("=")[0].split(">")[0].replace("-", "_").lower() for name in extra}
    assert distributions <= set(WORKLOADS_EXTRA)


@pytest.mark.slow
def test_plan_runs_the_program_and_the_policy_pack_without_the_workloads_extra():
    result = aiinfra_without_extra("plan", "--stack", "dev")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "policy" in result.stdout.lower()


def test_a_local_command_without_the_extra_names_it_and_exits_2():
    result = aiinfra_without_extra("local", "train", "--steps", "1", "--nproc", "1")
    assert result.returncode == 2, result.stderr[-3000:]
    assert "error: local train: needs torch, which the workloads extra installs" in result.stderr
    assert "Traceback" not in result.stderr
