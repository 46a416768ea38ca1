"""Fixtures of the end-to-end tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of this repo's Pulumi project (program, stacks, teams) to break on purpose, with the image build
    context (the Dockerfiles and the code they copy) linked in: the program builds the images from beside it."""
    shutil.copy(REPO / "Pulumi.yaml", tmp_path)
    shutil.copy(REPO / "__main__.py", tmp_path)
    shutil.copytree(REPO / "stacks", tmp_path / "stacks")
    for package in ("aiinfra", "workloads"):
        (tmp_path / package).symlink_to(REPO / package, target_is_directory=True)
    return tmp_path
