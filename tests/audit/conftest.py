"""One moto server and one offline plan of prod per module: the plan's AWS resources are deployed to it as
`pulumi up` would (tests/audit/deploy.py)."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from moto.server import ThreadedMotoServer

from aiinfra.plan.engine import ProgramRun, run_program
from aiinfra.plan.mocks import PlanMocks
from aiinfra.stack import load_project, load_stack_config

from .deploy import Deployment

REPO = Path(__file__).resolve().parents[2]
STACK = "prod"


@pytest.fixture(scope="module")
def prod_plan() -> ProgramRun:
    project = load_project(REPO)
    config, secret_keys = load_stack_config(project, STACK)
    return run_program(project, STACK, config, secret_keys, PlanMocks())


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """moto's server on a free port, reset (its backends live in this process) and with AWS's managed policies
    (the node role attaches them), with throwaway credentials that keep real ones out of every client."""
    patch = pytest.MonkeyPatch()
    patch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    patch.setenv("AWS_ACCESS_KEY_ID", "audit-test")
    patch.setenv("AWS_SECRET_ACCESS_KEY", "audit-test")
    patch.delenv("AWS_PROFILE", raising=False)
    patch.setenv("AWS_MAX_ATTEMPTS", "2")  # moto answers APIs it lacks with HTTP 500: retry once, not 8 times
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=30).close()
    yield endpoint
    server.stop()
    patch.undo()


@pytest.fixture(scope="module")
def deployment(prod_plan: ProgramRun, moto_endpoint: str) -> Deployment:
    return Deployment(prod_plan, moto_endpoint).deploy()
