"""Fixtures of the end-to-end tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of this repo's Pulumi project (program, stacks, teams) to break on purpose."""
    shutil.copy(REPO / "Pulumi.yaml", tmp_path)
    shutil.copy(REPO / "__main__.py", tmp_path)
    shutil.copytree(REPO / "stacks", tmp_path / "stacks")
    return tmp_path
