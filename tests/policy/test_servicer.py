"""The pack's servicer (policies/servicer.py) answers exactly as pulumi-policy's own: a prod plan's
Analyze and AnalyzeStack requests, replayed through both in this process, get byte-identical responses
under prod's config and under a strict one with every enforcement level and many violations. And the
client marshals those requests' properties exactly as the SDK's serializer would."""

from __future__ import annotations

import asyncio
import importlib
import sys
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest
from google.protobuf import empty_pb2
from pulumi.runtime import rpc
from pulumi.runtime.proto import analyzer_pb2

from aiinfra.plan import engine
from aiinfra.plan.mocks import PlanMocks
from aiinfra.policy.analyzer import (  # pyright: ignore[reportPrivateUsage]  # the engine-shaped requests
    _is_plain,
    _Requests,
    _serialize_all,
)
from aiinfra.policy.config import PolicySetting, configure_request, load_settings, reconcile
from aiinfra.stack import load_project, load_stack_config
from tests.policy.conftest import PACK, REPO, TEST_CONFIG

STRICT = {
    **TEST_CONFIG,
    "required-tags": PolicySetting(properties={"requiredKeys": ["owner", "cost-center", "team", "reviewed-by"]}),
    "gpu-count-ceiling": PolicySetting("advisory", {"maxGpus": 1}),
    "gpu-cost-ceiling": PolicySetting("remediate", {"maxUsdPerHour": 1}),
    "k8s-run-as-non-root": PolicySetting("remediate"),
    "k8s-seccomp-runtime-default": PolicySetting("disabled"),
    "aws-iam-no-wildcard-resources": PolicySetting("advisory", {"actionsWithoutResourceScope": []}),
    "aws-eks-control-plane-logs": PolicySetting(
        properties={"requiredLogTypes": ["api", "audit", "authenticator", "controllerManager", "scheduler"]}
    ),
    "gcp-kms-key-rotation": PolicySetting(properties={"maxRotationDays": 1}),
    "k8s-no-public-loadbalancer": PolicySetting(properties={"internalAnnotations": {"example.com/never": "set"}}),
}


@pytest.fixture(scope="module")
def pack_modules() -> Iterator[tuple[ModuleType, ModuleType]]:
    """The pack's definition and servicer, imported as the engine runs them (policies/ on the path)."""
    sys.path.insert(0, str(PACK))
    try:
        yield importlib.import_module("pack"), importlib.import_module("servicer")
    finally:
        sys.path.remove(str(PACK))


@pytest.fixture(scope="module")
def prod_run() -> engine.ProgramRun:
    project = load_project(REPO)
    config, secrets = load_stack_config(project, "prod")
    return engine.run_program(project, "prod", config, secrets, PlanMocks())


@pytest.fixture(scope="module")
def prod_requests(prod_run) -> tuple[list[Any], Any]:
    requests = _Requests(prod_run.resources)
    return [requests.analyze(i) for i in range(len(prod_run.resources))], requests.analyze_stack()


def test_the_client_marshals_properties_as_the_sdk_does(prod_run):
    """Plain property maps skip the SDK's asynchronous serializer; the bytes are the same."""
    maps = [props for r in prod_run.resources for props in (r.inputs, r.outputs)]
    ours = _serialize_all(maps)

    async def sdk() -> list[Any]:
        return [
            await rpc.serialize_properties({k: v for k, v in m.items() if not k.startswith("__")}, {}) for m in maps
        ]

    for mine, theirs in zip(ours, asyncio.run(sdk()), strict=True):
        assert mine.SerializeToString(deterministic=True) == theirs.SerializeToString(deterministic=True)
    assert sum(_is_plain(m) for m in maps) >= len(maps) * 0.9  # the direct path is the one compared


def _servicer(cls: Any, pack: dict[str, Any]) -> Any:
    return cls(
        pack["name"], "0.0.1", pack["policies"], pack["enforcement_level"], None, pack["description"], *[None] * 5
    )


@pytest.mark.parametrize("config", ["prod", "strict"])
def test_responses_are_byte_identical_to_the_sdk_servicer(config, pack_modules, prod_requests):
    pack, servicer = pack_modules
    sdk = importlib.import_module("pulumi_policy.policy")
    stock = _servicer(sdk._PolicyAnalyzerServicer, pack.PACK)  # pyright: ignore[reportPrivateUsage]
    fast = _servicer(servicer.FastServicer, pack.PACK)
    info = stock.GetAnalyzerInfo(empty_pb2.Empty(), None)
    given = load_settings(PACK / "config" / "prod.json") if config == "prod" else STRICT
    configure = analyzer_pb2.ConfigureAnalyzerRequest(policyConfig=configure_request(reconcile(info, given, config)))
    stack = analyzer_pb2.AnalyzerStackConfigureRequest(stack="prod", project="aiinfra", tags={"env": "prod"})
    for s in (stock, fast):
        s.Configure(configure, None)
        s.ConfigureStack(stack, None)
    assert fast.GetAnalyzerInfo(empty_pb2.Empty(), None) == info

    analyze, analyze_stack = prod_requests
    diagnostics: list[Any] = []
    for request in analyze:
        expected = stock.Analyze(request, None)
        assert fast.Analyze(request, None).SerializeToString(deterministic=True) == expected.SerializeToString(
            deterministic=True
        ), request.urn
        diagnostics += expected.diagnostics
    expected = stock.AnalyzeStack(analyze_stack, None)
    assert fast.AnalyzeStack(analyze_stack, None).SerializeToString(deterministic=True) == expected.SerializeToString(
        deterministic=True
    )
    from_resources = len(diagnostics)
    diagnostics += expected.diagnostics
    if config == "strict":  # the comparison covers many reports at every level, not just empty answers
        assert from_resources >= 3 and len(diagnostics) - from_resources >= 20, (from_resources, len(diagnostics))
        assert {d.enforcementLevel for d in diagnostics} == {analyzer_pb2.MANDATORY, analyzer_pb2.ADVISORY}


def test_the_pack_serves_the_fast_servicer_only_on_the_version_it_reproduces(pack_modules):
    _, servicer = pack_modules
    version = importlib.import_module("pulumi_policy.version").VERSION
    assert version == servicer.CHECKED_VERSION, "re-run this suite against the new pulumi-policy, then update"
