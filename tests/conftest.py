"""Shared fixtures: the mock harness that runs components or whole programs offline, and a local S3."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from moto.server import ThreadedMotoServer

from aiinfra.local_loop import LAKE_CREDENTIALS

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def run_mocked():
    """Run a callable that creates components under the plan's mock engine; returns a ProgramRun.

    Usage: `run = run_mocked(lambda: Cluster("c", args))`, then assert on `run.resources`
    (each a `Recorded` with `type`, `name`, `inputs` in engine camelCase, `parent`, ...).
    """
    from aiinfra.plan.engine import run_function
    from aiinfra.plan.mocks import PlanMocks

    def run(program: Callable[[], object], *, stack: str = "test", config: dict[str, str] | None = None):
        return run_function(program, PlanMocks(), stack=stack, config=config)

    return run


def of_type(run, type_: str) -> list:
    """The recorded resources of one type token."""
    return [r for r in run.resources if r.type == type_]


def one(run, type_: str):
    found = of_type(run, type_)
    assert len(found) == 1, f"expected one {type_}, found {[r.name for r in found]}"
    return found[0]


@pytest.fixture
def moto_s3(monkeypatch) -> Iterator[str]:
    """moto's S3 server on a free 127.0.0.1 port, in this process, with the credentials the local lake uses
    (moto accepts any; these keep real AWS credentials out of every client): its endpoint URL."""
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    for key, value in LAKE_CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()
