"""The pack's servicer (policies/servicer.py) answers exactly as pulumi-policy's own: a prod plan's
Analyze and AnalyzeStack requests, replayed through both in this process, get byte-identical responses
under prod's config and under a strict one with every enforcement level and many violations, also when
the plan is rewritten as a first preview sees it (unknown values, secrets). The servicer's one-pass
decoding reads what the SDK's decoding hands policies. And the client marshals those requests'
properties exactly as the SDK's serializer would."""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import itertools
import sys
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime import rpc
from pulumi.runtime.proto import analyzer_pb2
from pulumi_policy import (
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
    proxy,
)
from pulumi_policy.deserialize import SPECIAL_ASSET_SIG, SPECIAL_SECRET_SIG, SPECIAL_SIG_KEY, deserialize_properties

from aiinfra.plan import engine
from aiinfra.plan.mocks import PlanMocks
from aiinfra.policy.analyzer import EngineRequests, serialize_properties
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


UNKNOWNS = [
    proxy.UNKNOWN_STRING_VALUE,
    proxy.UNKNOWN_BOOLEAN_VALUE,
    proxy.UNKNOWN_NUMBER_VALUE,
    proxy.UNKNOWN_ARRAY_VALUE,
    proxy.UNKNOWN_OBJECT_VALUE,
]


def _as_first_preview(value: Any, turn: Iterator[int]) -> Any:
    """`value` with about every fifth leaf, list or map unknown (as outputs are before a first create) and
    every seventh a secret, all deterministically. What is already a secret stays as it is."""
    if isinstance(value, dict) and SPECIAL_SIG_KEY in value:
        return value
    n = next(turn)
    if n % 5 == 0:
        return UNKNOWNS[n // 5 % len(UNKNOWNS)]
    if isinstance(value, dict):
        value = {k: _as_first_preview(v, turn) for k, v in value.items()}
    elif isinstance(value, list):
        value = [_as_first_preview(v, turn) for v in value]
    return {SPECIAL_SIG_KEY: SPECIAL_SECRET_SIG, "value": value} if n % 7 == 0 else value


def _requests(resources: list[engine.Recorded]) -> tuple[list[Any], Any]:
    requests = EngineRequests(resources)
    return (
        [analyzer_pb2.AnalyzeRequest.FromString(requests.analyze(i)) for i in range(len(resources))],
        analyzer_pb2.AnalyzeStackRequest.FromString(requests.analyze_stack()),
    )


@pytest.fixture(scope="module")
def prod_requests(prod_run) -> tuple[list[Any], Any]:
    return _requests(prod_run.resources)


@pytest.fixture(scope="module")
def preview_requests(prod_run) -> tuple[list[Any], Any]:
    """Prod's requests as a first preview would send them: unknowns and secrets inside the properties (the
    offline plan has neither)."""
    turn = itertools.count(1)
    return _requests(
        [
            dataclasses.replace(
                r,
                inputs={k: _as_first_preview(v, turn) for k, v in r.inputs.items()},
                outputs={k: _as_first_preview(v, turn) for k, v in r.outputs.items()},
            )
            for r in prod_run.resources
        ]
    )


def _json_only(value: Any) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, str) and _json_only(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_json_only(v) for v in value)
    return value is None or isinstance(value, str | bool | int | float)


def test_the_client_marshals_properties_as_the_sdk_does(prod_run):
    """Plain property maps skip the SDK's asynchronous serializer; the bytes are the same, map order included
    (the pack iterates a map in the order it was written)."""
    maps = [props for r in prod_run.resources for props in (r.inputs, r.outputs)]
    maps += [{"__internal": 1, "none": None, "asset": rpc.UNKNOWN, "nested": {"none": None, "empty": {}, "list": []}}]

    async def sdk() -> list[Any]:
        return [
            await rpc.serialize_properties({k: v for k, v in m.items() if not k.startswith("__")}, {}) for m in maps
        ]

    for mine, theirs in zip(serialize_properties(maps), asyncio.run(sdk()), strict=True):
        assert mine == theirs.SerializeToString()
    assert sum(_json_only(m) for m in maps) >= len(maps) * 0.9  # the direct path is the one compared


def test_requests_carry_what_the_engine_sends(prod_run, prod_requests):
    """The requests spliced from pieces serialized once parse as the messages built field by field."""
    resources = prod_run.resources
    by_urn = {r.urn: r for r in resources}
    inputs, outputs = (
        [struct_pb2.Struct.FromString(b) for b in serialize_properties(maps)]
        for maps in ([r.inputs for r in resources], [r.outputs for r in resources])
    )

    def provider(r: engine.Recorded) -> Any:
        p = by_urn.get(r.provider.rsplit("::", 1)[0]) if r.provider else None
        if p is None:
            return None
        props = struct_pb2.Struct.FromString(serialize_properties([p.inputs])[0])
        return analyzer_pb2.AnalyzerProviderResource(type=p.type, urn=p.urn, name=p.name, properties=props)

    def options(r: engine.Recorded) -> Any:
        timeouts = analyzer_pb2.AnalyzerResourceOptions.CustomTimeouts()
        return analyzer_pb2.AnalyzerResourceOptions(
            protect=r.protect, aliases=r.aliases, parent=r.parent or "", customTimeouts=timeouts
        )

    analyze, analyze_stack = prod_requests
    assert sum(r.HasField("provider") for r in analyze) >= 100
    for r, request, props in zip(resources, analyze, inputs, strict=True):
        fields = {"type": r.type, "urn": r.urn, "name": r.name, "options": options(r), "provider": provider(r)}
        assert request == analyzer_pb2.AnalyzeRequest(properties=props, **fields), r.urn
    assert analyze_stack == analyzer_pb2.AnalyzeStackRequest(
        resources=[
            analyzer_pb2.AnalyzerResource(
                type=r.type,
                urn=r.urn,
                name=r.name,
                properties=props,
                options=options(r),
                provider=provider(r),
                parent=r.parent or "",
                dependencies=r.dependencies,
                propertyDependencies={
                    k: analyzer_pb2.AnalyzerPropertyDependencies(urns=v)
                    for k, v in r.property_dependencies.items()
                    if v
                },
            )
            for r, props in zip(resources, outputs, strict=True)
        ]
    )


def _servicer(cls: Any, pack: dict[str, Any]) -> Any:
    return cls(
        pack["name"], "0.0.1", pack["policies"], pack["enforcement_level"], None, pack["description"], *[None] * 5
    )


def _replay(
    config: str,
    pack_modules: tuple[ModuleType, ModuleType],
    requests: tuple[list[Any], Any],
    extra: list[Any] | None = None,
) -> list[Any]:
    """Both servicers, configured alike, answer `requests` (with `extra` policies after the pack's); the
    responses must be the same bytes. Returns the diagnostics."""
    pack, servicer = pack_modules
    sdk = importlib.import_module("pulumi_policy.policy")
    definition = {**pack.PACK, "policies": [*pack.PACK["policies"], *(extra or [])]}
    stock = _servicer(sdk._PolicyAnalyzerServicer, definition)  # pyright: ignore[reportPrivateUsage]
    fast = _servicer(servicer.FastServicer, definition)
    info = stock.GetAnalyzerInfo(empty_pb2.Empty(), None)
    given = load_settings(PACK / "config" / "prod.json") if config == "prod" else STRICT
    configure = analyzer_pb2.ConfigureAnalyzerRequest(policyConfig=configure_request(reconcile(info, given, config)))
    stack = analyzer_pb2.AnalyzerStackConfigureRequest(stack="prod", project="aiinfra", tags={"env": "prod"})
    for s in (stock, fast):
        s.Configure(configure, None)
        s.ConfigureStack(stack, None)
    assert fast.GetAnalyzerInfo(empty_pb2.Empty(), None) == info

    analyze, analyze_stack = requests
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
    return [*diagnostics, *expected.diagnostics]


@pytest.mark.parametrize("config", ["prod", "strict"])
def test_responses_are_byte_identical_to_the_sdk_servicer(config, pack_modules, prod_requests):
    diagnostics = _replay(config, pack_modules, prod_requests)
    if config == "strict":  # the comparison covers many reports at every level, not just empty answers
        from_stack = [d for d in diagnostics if not d.urn or d.urn.endswith("::prod")]
        assert len(diagnostics) >= 23 and len(from_stack) >= 1, len(diagnostics)
        assert {d.enforcementLevel for d in diagnostics} == {analyzer_pb2.MANDATORY, analyzer_pb2.ADVISORY}


def test_responses_are_byte_identical_in_a_first_preview(pack_modules, preview_requests):
    """Unknown values and secrets take other paths through both servicers' decoding."""
    analyze, analyze_stack = preview_requests
    assert sum(proxy.UNKNOWN_STRING_VALUE in str(r.properties) for r in analyze) >= 50
    assert SPECIAL_SECRET_SIG in str(analyze_stack)
    assert _replay("strict", pack_modules, preview_requests)


def _reads_every_property(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type.startswith("kubernetes:"):
        args.not_applicable("not for Kubernetes objects")
    provider = args.provider.props if args.provider else {}
    values = [(key, type(args.props[key]).__name__) for key in args.props]  # an unknown one raises
    report(f"{values} {sorted(provider)}", None)


def _reads_the_graph(args: StackValidationArgs, report: ReportViolation) -> None:
    for r in args.resources[:40]:
        parent = r.parent.urn if r.parent else None
        deps = {key: [d.urn for d in value] for key, value in r.property_dependencies.items()}
        report(f"{parent} {[d.urn for d in r.dependencies]} {deps} {r.opts.protect} {list(r.props)[:3]}", r.urn)
    args.resources[0].props[next(iter(args.resources[0].props))]  # unknown in a first preview: raises


def test_policies_not_built_by_the_rule_helpers_get_the_sdk_treatment(pack_modules, preview_requests):
    """A policy that reads `args.props` (and hits unknowns), says it does not apply, only remediates or reads
    the stack's graph is answered as the SDK answers it."""
    extra = [
        ResourceValidationPolicy(name="reads-props", description="Reads props.", validate=_reads_every_property),
        ResourceValidationPolicy(name="only-remediates", description="No validate.", remediate=lambda _args: None),
        StackValidationPolicy(name="reads-graph", description="Reads the graph.", validate=_reads_the_graph),
    ]
    diagnostics = _replay("strict", pack_modules, preview_requests, extra)
    messages = [d.message for d in diagnostics if d.policyName in {"reads-props", "reads-graph"}]
    assert sum("during preview" in m for m in messages) >= 20 and len(messages) >= 100, len(messages)


def test_one_pass_decoding_reads_what_the_sdk_hands_policies(pack_modules):
    """`plain_struct(s)` is `plain(unknown_checking_proxy(deserialize_properties(MessageToDict(s))))`: same
    values, same key order, unknowns as UNKNOWN, secrets unwrapped; assets left to the SDK's decoding."""
    _, servicer = pack_modules
    rules = importlib.import_module("rules.common")
    given = {
        "name": "n",
        "unknown": proxy.UNKNOWN_STRING_VALUE,
        "numbers": [1, 2.5, -0.0, 1e300, True, False, None],
        "nested": {"empty": {}, "list": [], "deep": [{"x": proxy.UNKNOWN_NUMBER_VALUE}, [proxy.UNKNOWN_ARRAY_VALUE]]},
        "secret": {SPECIAL_SIG_KEY: SPECIAL_SECRET_SIG, "value": {"k": [proxy.UNKNOWN_OBJECT_VALUE, "v"]}},
        "null": None,
        **{f"key{i}": i for i in range(20)},
    }
    with_asset = {**given, "asset": {SPECIAL_SIG_KEY: SPECIAL_ASSET_SIG, "path": "a.txt"}}
    for props in (given, with_asset):
        struct = struct_pb2.Struct()
        struct.update(props)
        theirs = rules.plain(proxy.unknown_checking_proxy(deserialize_properties(json_format.MessageToDict(struct))))
        ours = servicer.plain_struct(struct)
        asset = ours.pop("asset", None)
        assert (asset is None) == (props is given) and type(asset) is type(theirs.pop("asset", None))
        assert repr(ours) == repr(theirs)  # values and key order, at every depth
        assert ours["secret"]["k"][0] is rules.UNKNOWN


def test_the_pack_serves_the_fast_servicer_only_on_the_version_it_reproduces(pack_modules):
    _, servicer = pack_modules
    version = importlib.import_module("pulumi_policy.version").VERSION
    assert version == servicer.CHECKED_VERSION, "re-run this suite against the new pulumi-policy, then update"
