"""The pack's analyzer servicer: pulumi-policy's own, with each request decoded once.

The SDK's servicer decodes a resource's properties, options and provider again for every policy
(~100 `MessageToDict` calls per resource on prod) and rebuilds the whole resource list for every
stack policy; that, not the rules, is ~96 % of a pack's time. This subclass answers Analyze and
AnalyzeStack with the same bytes: policies in pack order, the same enforcement levels (remediate
reported as mandatory, disabled skipped), the same not-applicable answers and unknown-value
diagnostics, the same per-policy config. The differences are only in how often work is done:

- Analyze dispatches by resource type: a rule built by `resource_rule` that does not apply to the
  type would report nothing, so it is not called. The request's properties, options and provider are
  decoded at most once and the plain properties are shared by the rules of that type (rules never
  mutate their inputs). A policy not built by `resource_rule` gets the SDK's treatment, fresh
  decoding included.
- AnalyzeStack builds its resource graph once and hands the same `StackResource`s to every rule
  built by `stack_rule` (their plain properties converted once, on first use).

It leans on pulumi-policy's internals (the servicer's private state, the module's `proto`), so it is
used only with the version it was checked against (`tests/policy/test_servicer.py` replays a prod plan
through both servicers and requires byte-identical responses); with any other version the pack serves
the SDK's servicer unchanged. Everything else (Remediate, GetAnalyzerInfo, Configure, ConfigureStack,
serving, start-up) is the SDK's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from inspect import isawaitable
from typing import Any

from google.protobuf import json_format
from pulumi_policy import (
    EnforcementLevel,
    PolicyResource,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy import policy as sdk
from pulumi_policy.deserialize import deserialize_properties
from pulumi_policy.proxy import UnknownValueError, unknown_checking_proxy
from pulumi_policy.version import VERSION
from rules.common import (
    RESOURCE_RULES,
    STACK_RULES,
    StackResource,
    plain,
    report_problems,
    report_stack_problems,
)

CHECKED_VERSION = "1.21.0"
"""The pulumi-policy version whose servicer this one reproduces (pinned in pyproject.toml)."""

proto: Any = sdk.proto  # pyright: ignore[reportPrivateImportUsage]
_Base: Any = sdk._PolicyAnalyzerServicer  # pyright: ignore[reportPrivateUsage]
_NotApplicableError: Any = sdk._NotApplicableError  # pyright: ignore[reportPrivateUsage]
_PRIVATE = "_PolicyAnalyzerServicer__"


class _Decoded:
    """One Analyze request, decoded on first use and then shared by every policy."""

    def __init__(self, servicer: FastServicer, request: Any):
        self._servicer = servicer
        self._request = request
        self._props: Any = None
        self._plain: Any = None
        self._opts: Any = None
        self._provider: Any = None
        self._decoded = False

    def _decode(self) -> None:
        if not self._decoded:
            self._props = unknown_checking_proxy(
                deserialize_properties(json_format.MessageToDict(self._request.properties))
            )
            self._opts = self._servicer._get_resource_options(self._request)
            self._provider = self._servicer._get_provider_resource(self._request)
            self._decoded = True

    def args(self, config: Mapping[str, Any] | None, stack_tags: Mapping[str, str]) -> ResourceValidationArgs:
        self._decode()
        r = self._request
        return ResourceValidationArgs(
            r.type, self._props, r.urn, r.name, self._opts, self._provider, config, stack_tags
        )

    def plain_props(self) -> Any:
        if self._plain is None:
            self._decode()
            self._plain = plain(self._props)
        return self._plain


class FastServicer(_Base):
    """pulumi-policy's `_PolicyAnalyzerServicer` with Analyze and AnalyzeStack decoding once."""

    def _private(self, name: str) -> Any:
        return getattr(self, _PRIVATE + name)

    def _run(self, response: Any, policy: Any, validate: Callable[[], Any]) -> None:
        """A policy's validation with the SDK's handling of awaitables, unknowns and not-applicable."""
        pack, version = self._private("policy_pack_name"), self._private("policy_pack_version")
        try:
            result = validate()
            if isawaitable(result):
                loop = asyncio.new_event_loop()
                task = asyncio.Task(result, loop=loop)  # type: ignore[arg-type]  # as the SDK runs it
                loop.run_until_complete(task)
                loop.close()
        except UnknownValueError as e:
            response.diagnostics.append(
                proto.AnalyzeDiagnostic(
                    policyName=policy.name,
                    policyPackName=pack,
                    policyPackVersion=version,
                    message=(
                        f"can't run policy '{policy.name}' from policy pack '{pack}@v{version}' during preview: "
                        f"{e.message}"
                    ),
                    urn="",
                    description=policy.description,
                    enforcementLevel=self._map_enforcement_level(EnforcementLevel.ADVISORY),
                )
            )
        except _NotApplicableError as e:
            response.not_applicable.append(proto.PolicyNotApplicable(policy_name=policy.name, reason=e.reason or ""))

    def Analyze(self, request: Any, _context: Any) -> Any:  # the gRPC method's name
        self._configure_runtime_settings()
        response = proto.AnalyzeResponse()
        decoded = _Decoded(self, request)
        stack_tags = self._private("stack_tags")
        for policy in self._private("policies"):
            enforcement_level = self._get_enforcement_level(policy)
            if enforcement_level == EnforcementLevel.DISABLED or not isinstance(policy, ResourceValidationPolicy):
                continue
            parts = RESOURCE_RULES.get(policy)
            if parts is not None and request.type not in parts.types:
                continue  # its validate would return without a word
            if not policy.has_validation():
                reason = "Policy does not implement validate"
                response.not_applicable.append(proto.PolicyNotApplicable(policy_name=policy.name, reason=reason))
                continue
            if enforcement_level == EnforcementLevel.REMEDIATE:
                enforcement_level = EnforcementLevel.MANDATORY
            report = self._create_report_violation(
                response, policy.name, policy.description, enforcement_level, policy.severity
            )
            config = self._get_policy_config(policy.name)
            if parts is not None:
                args = decoded.args(config, stack_tags)
                self._run(
                    response,
                    policy,
                    lambda parts=parts, args=args, report=report: report_problems(
                        parts.check(decoded.plain_props(), args), parts.remediation, report
                    ),
                )
            else:
                args = _Decoded(self, request).args(config, stack_tags)  # fresh: it may mutate what it gets
                self._run(
                    response, policy, lambda policy=policy, args=args, report=report: policy.validate(args, report)
                )
        return response

    def _stack_resources(self, request: Any) -> list[PolicyResource]:
        """The SDK's resource graph of an AnalyzeStack request: parents, dependencies, property dependencies."""
        resources: list[PolicyResource] = []
        links: list[tuple[PolicyResource, Any]] = []
        for r in request.resources:
            props = unknown_checking_proxy(deserialize_properties(json_format.MessageToDict(r.properties)))
            resource = PolicyResource(
                r.type,
                props,
                r.urn,
                r.name,
                self._get_resource_options(r),
                self._get_provider_resource(r),
                None,
                [],
                {},
            )
            resources.append(resource)
            links.append((resource, r))
        by_urn = {resource.urn: resource for resource in resources}
        for resource, r in links:
            if r.parent is not None and r.parent in by_urn:
                resource.parent = by_urn[r.parent]
            resource.dependencies.extend(by_urn[d] for d in r.dependencies if d in by_urn)
            for key, deps in r.propertyDependencies.items():
                resource.property_dependencies[key] = [by_urn[d] for d in deps.urns if d in by_urn]
        return resources

    def AnalyzeStack(self, request: Any, _context: Any) -> Any:  # the gRPC method's name
        self._configure_runtime_settings()
        response = proto.AnalyzeResponse()
        stack_tags = self._private("stack_tags")
        graph: list[PolicyResource] | None = None
        shared: list[StackResource] | None = None
        for policy in self._private("policies"):
            enforcement_level = self._get_enforcement_level(policy)
            if enforcement_level == EnforcementLevel.DISABLED or not isinstance(policy, StackValidationPolicy):
                continue
            if enforcement_level == EnforcementLevel.REMEDIATE:
                enforcement_level = EnforcementLevel.MANDATORY
            report = self._create_report_violation(
                response, policy.name, policy.description, enforcement_level, policy.severity
            )
            parts = STACK_RULES.get(policy)
            if parts is not None:
                graph = graph if graph is not None else self._stack_resources(request)
                shared = shared if shared is not None else [StackResource(r) for r in graph]
                args = StackValidationArgs(graph, self._get_policy_config(policy.name), stack_tags)
                resources = shared
                self._run(
                    response,
                    policy,
                    lambda parts=parts, args=args, report=report, resources=resources: report_stack_problems(
                        parts.check(resources, args.get_config()), parts.remediation, report
                    ),
                )
            else:
                args = StackValidationArgs(
                    self._stack_resources(request), self._get_policy_config(policy.name), stack_tags
                )
                self._run(
                    response, policy, lambda policy=policy, args=args, report=report: policy.validate(args, report)
                )
        return response


def serve(**pack: Any) -> None:
    """Serve `pulumi_policy.PolicyPack(**pack)` as the SDK does (its checks, port on stdout, stop on
    interrupt), answered by FastServicer when pulumi-policy is the version it reproduces."""
    if VERSION == CHECKED_VERSION:
        sdk._PolicyAnalyzerServicer = FastServicer  # pyright: ignore[reportPrivateUsage]  # read by PolicyPack()
    sdk.PolicyPack(**pack)
