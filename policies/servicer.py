"""The pack's analyzer servicer: pulumi-policy's own, with each request decoded once.

The SDK's servicer decodes a resource's properties, options and provider again for every policy
(~100 `MessageToDict` calls per resource on prod) and rebuilds the whole resource list for every
stack policy; that, not the rules, is ~96 % of a pack's time. This subclass answers Analyze and
AnalyzeStack with the same bytes: policies in pack order, the same enforcement levels (remediate
reported as mandatory, disabled skipped), the same not-applicable answers and unknown-value
diagnostics, the same per-policy config. The differences are only in how often work is done:

- Analyze dispatches by resource type: a rule built by `resource_rule` that does not apply to the
  type would report nothing, so it is not called. Which policies run for a type (and at which level)
  is worked out once per type and again after each Configure. The request's properties, options and
  provider are decoded at most once and the plain properties are shared by the rules of that type
  (rules never mutate their inputs); a provider is decoded once per pack for all the requests that
  carry the same one. A policy not built by `resource_rule` gets the SDK's treatment, fresh decoding
  included.
- AnalyzeStack decodes each resource's outputs once, each distinct provider once, straight from the
  request's Structs into the plain values the rules read, and hands the same `StackResource`s to
  every rule built by `stack_rule`. A stack policy not built by `stack_rule` gets the SDK's graph.
- The runtime settings each call configures (as the SDK does) no longer inspect `Settings`'s
  signature on every call.

It leans on pulumi-policy's internals (the servicer's private state, the module's `proto`), so it is
used only with the version it was checked against (`tests/policy/test_servicer.py` replays a prod plan
through both servicers and requires byte-identical responses); with any other version the pack serves
the SDK's servicer unchanged. Everything else (Remediate, GetAnalyzerInfo, ConfigureStack, serving,
start-up) is the SDK's.
"""

from __future__ import annotations

import asyncio
import math
import os
from collections.abc import Callable, Mapping
from functools import cached_property
from inspect import isawaitable, signature
from typing import Any, NamedTuple

from google.protobuf import json_format
from pulumi_policy import (
    EnforcementLevel,
    PolicyProviderResource,
    PolicyResource,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy import policy as sdk
from pulumi_policy import proxy as sdk_proxy
from pulumi_policy.deserialize import SPECIAL_SECRET_SIG, SPECIAL_SIG_KEY, deserialize_properties
from pulumi_policy.proxy import UnknownValueError, unknown_checking_proxy
from pulumi_policy.version import VERSION
from rules.common import (
    RESOURCE_RULES,
    STACK_RULES,
    UNKNOWN,
    ResourceRuleParts,
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
_runtime: Any = sdk.pulumi.runtime  # pyright: ignore[reportPrivateImportUsage]
"""`pulumi.runtime` as the SDK's servicer reaches it (the pack itself imports no Pulumi SDK)."""
_SETTINGS_TAKE_ORGANIZATION = "organization" in signature(_runtime.Settings).parameters
"""What the SDK's `_configure_runtime_settings` asks `inspect.signature` on every call."""
_UNKNOWN_SENTINELS = frozenset(
    {
        sdk_proxy.UNKNOWN_BOOLEAN_VALUE,
        sdk_proxy.UNKNOWN_NUMBER_VALUE,
        sdk_proxy.UNKNOWN_STRING_VALUE,
        sdk_proxy.UNKNOWN_ARRAY_VALUE,
        sdk_proxy.UNKNOWN_ASSET_VALUE,
        sdk_proxy.UNKNOWN_ARCHIVE_VALUE,
        sdk_proxy.UNKNOWN_OBJECT_VALUE,
    }
)


class _Special(Exception):
    """A value the direct decoding leaves to the SDK (an asset or archive, a malformed secret, a non-finite
    number)."""


def _plain_value(value: Any) -> Any:
    kind = value.WhichOneof("kind")
    if kind == "string_value":
        text = value.string_value
        return UNKNOWN if text in _UNKNOWN_SENTINELS else text
    if kind == "struct_value":
        return _plain_fields(value.struct_value.fields)
    if kind == "list_value":
        return [_plain_value(item) for item in value.list_value.values]
    if kind == "number_value":
        number = value.number_value
        if math.isinf(number) or math.isnan(number):
            raise _Special  # MessageToDict refuses it; let it say so
        return number
    return value.bool_value if kind == "bool_value" else None


def _plain_fields(fields: Any) -> Any:
    """A nested map: a secret is its value (the SDK unwraps secrets for policies); assets and archives are
    left to the SDK."""
    if SPECIAL_SIG_KEY in fields:
        signature = fields[SPECIAL_SIG_KEY]
        if (
            signature.WhichOneof("kind") == "string_value"
            and signature.string_value == SPECIAL_SECRET_SIG
            and "value" in fields
        ):
            return _plain_value(fields["value"])
        raise _Special
    return {key: _plain_value(item) for key, item in fields.items()}


def plain_struct(struct: Any) -> dict[str, Any]:
    """`plain(unknown_checking_proxy(deserialize_properties(MessageToDict(struct))))` in one pass over the
    Struct, as the rules read properties: plain dicts and lists, unknowns as `UNKNOWN`, secrets unwrapped. A
    Struct holding an asset or archive (or a number JSON cannot hold) takes the SDK's way."""
    try:
        return {key: _plain_value(item) for key, item in struct.fields.items()}
    except _Special:
        return plain(deserialize_properties(json_format.MessageToDict(struct)))


class _Decoded:
    """One Analyze request, decoded on first use and then shared by every policy."""

    def __init__(self, servicer: FastServicer, request: Any, *, shared_provider: bool = True):
        self._servicer = servicer
        self._request = request
        self._shared_provider = shared_provider
        self._props: Any = None
        self._plain: Any = None
        self._opts: Any = None
        self._provider: Any = None
        self._decoded = False

    def props(self) -> Any:
        """The SDK's `args.props`: an unknown-checking proxy over the deserialized properties."""
        if self._props is None:
            self._props = unknown_checking_proxy(
                deserialize_properties(json_format.MessageToDict(self._request.properties))
            )
        return self._props

    def args(self, config: Mapping[str, Any] | None, stack_tags: Mapping[str, str]) -> ResourceValidationArgs:
        if not self._decoded:
            self._opts = self._servicer._get_resource_options(self._request)
            self._provider = (
                self._servicer.shared_provider(self._request)
                if self._shared_provider
                else self._servicer._get_provider_resource(self._request)
            )
            self._decoded = True
        r = self._request
        return _Args(self, r.type, r.urn, r.name, self._opts, self._provider, config, stack_tags)

    def plain_props(self) -> Any:
        if self._plain is None:
            self._plain = plain_struct(self._request.properties)
        return self._plain


_UNREAD: Any = object()


class _Args(ResourceValidationArgs):
    """The SDK's ResourceValidationArgs, its `props` decoded when a policy first reads them (rules built by
    `resource_rule` read the plain properties instead)."""

    def __init__(self, decoded: _Decoded, *args: Any):
        self._decoded = decoded
        resource_type, urn, name, opts, provider, config, stack_tags = args
        super().__init__(resource_type, _UNREAD, urn, name, opts, provider, config, stack_tags)

    @property
    def props(self) -> Mapping[str, Any]:  # pyright: ignore[reportIncompatibleVariableOverride]
        if self._props is _UNREAD:
            self._props = self._decoded.props()
        return self._props

    @props.setter
    def props(self, value: Mapping[str, Any]) -> None:
        self._props = value


class _Step(NamedTuple):
    """A policy that runs for a resource type: its rule's parts (None if not built by `resource_rule`) and
    the level it reports at."""

    policy: Any
    parts: ResourceRuleParts | None
    enforcement_level: EnforcementLevel


class _SharedStackResource(StackResource):
    """A StackResource over a resource whose props (and its provider's) are already the plain values."""

    @cached_property
    def props(self) -> dict[str, Any]:
        return self._resource.props  # pyright: ignore[reportReturnType]  # plain_struct's dict

    @cached_property
    def provider_props(self) -> dict[str, Any]:
        provider = self._resource.provider
        return provider.props if provider else {}  # pyright: ignore[reportReturnType]


class FastServicer(_Base):
    """pulumi-policy's `_PolicyAnalyzerServicer` with Analyze and AnalyzeStack decoding once."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._steps: dict[str, list[_Step]] = {}
        self._providers: dict[str, list[tuple[Any, PolicyProviderResource]]] = {}

    def _private(self, name: str) -> Any:
        return getattr(self, _PRIVATE + name)

    def Configure(self, request: Any, context: Any) -> Any:  # the gRPC method's name
        response = super().Configure(request, context)
        self._steps = {}  # levels may have changed
        self._providers = {}  # a new plan's
        return response

    def _configure_runtime_settings(self) -> None:
        """The SDK's, with `Settings`'s signature inspected once rather than per call."""
        for key, value in _runtime.get_config_env().items():
            _runtime.set_config(key, value)
        if "PULUMI_PROJECT" in os.environ and "PULUMI_STACK" in os.environ and "PULUMI_DRY_RUN" in os.environ:
            settings_args: dict[str, Any] = {
                "project": os.environ["PULUMI_PROJECT"],
                "stack": os.environ["PULUMI_STACK"],
                "dry_run": os.environ["PULUMI_DRY_RUN"] == "true",
            }
            if _SETTINGS_TAKE_ORGANIZATION:
                settings_args["organization"] = os.environ.get("PULUMI_ORGANIZATION", "organization")
            _runtime.configure(_runtime.Settings(**settings_args))

    def shared_provider(self, request: Any) -> PolicyProviderResource | None:
        """The SDK's provider resource for `request`, decoded once for every request carrying the same one."""
        if not request.HasField("provider"):
            return None
        given = request.provider
        seen = self._providers.setdefault(given.urn, [])
        for message, provider in seen:
            if message == given:
                return provider
        provider = self._get_provider_resource(request)
        seen.append((given, provider))
        return provider

    def _steps_for(self, resource_type: str) -> list[_Step]:
        """The policies that run for `resource_type`, in pack order, at their reported levels."""
        steps = self._steps.get(resource_type)
        if steps is None:
            steps = []
            for policy in self._private("policies"):
                enforcement_level = self._get_enforcement_level(policy)
                if enforcement_level == EnforcementLevel.DISABLED or not isinstance(policy, ResourceValidationPolicy):
                    continue
                parts = RESOURCE_RULES.get(policy)
                if parts is not None and resource_type not in parts.types:
                    continue  # its validate would return without a word
                if enforcement_level == EnforcementLevel.REMEDIATE:
                    enforcement_level = EnforcementLevel.MANDATORY
                steps.append(_Step(policy, parts, enforcement_level))
            self._steps[resource_type] = steps
        return steps

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
        steps = self._steps_for(request.type)
        if not steps:
            return response
        decoded = _Decoded(self, request)
        stack_tags = self._private("stack_tags")
        for policy, parts, enforcement_level in steps:
            if not policy.has_validation():
                reason = "Policy does not implement validate"
                response.not_applicable.append(proto.PolicyNotApplicable(policy_name=policy.name, reason=reason))
                continue
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
                # Fresh, as the SDK decodes for each policy: it may mutate what it gets.
                args = _Decoded(self, request, shared_provider=False).args(config, stack_tags)
                self._run(
                    response, policy, lambda policy=policy, args=args, report=report: policy.validate(args, report)
                )
        return response

    @staticmethod
    def _link(resources: list[PolicyResource], request: Any) -> None:
        """Parents, dependencies and property dependencies between the resources of an AnalyzeStack request."""
        by_urn = {resource.urn: resource for resource in resources}
        for resource, r in zip(resources, request.resources, strict=True):
            if r.parent is not None and r.parent in by_urn:
                resource.parent = by_urn[r.parent]
            resource.dependencies.extend(by_urn[d] for d in r.dependencies if d in by_urn)
            for key, deps in r.propertyDependencies.items():
                resource.property_dependencies[key] = [by_urn[d] for d in deps.urns if d in by_urn]

    def _stack_resources(self, request: Any) -> list[PolicyResource]:
        """The SDK's resource graph of an AnalyzeStack request: parents, dependencies, property dependencies."""
        resources = [
            PolicyResource(
                r.type,
                unknown_checking_proxy(deserialize_properties(json_format.MessageToDict(r.properties))),
                r.urn,
                r.name,
                self._get_resource_options(r),
                self._get_provider_resource(r),
                None,
                [],
                {},
            )
            for r in request.resources
        ]
        self._link(resources, request)
        return resources

    def _shared_stack_resources(self, request: Any) -> list[StackResource]:
        """What every `stack_rule` reads: the same graph, its props and its providers' props plain values,
        each distinct provider decoded once."""
        providers: dict[str, list[tuple[Any, PolicyProviderResource]]] = {}

        def provider_of(r: Any) -> PolicyProviderResource | None:
            if not r.HasField("provider"):
                return None
            given = r.provider
            seen = providers.setdefault(given.urn, [])
            for message, provider in seen:
                if message == given:
                    return provider
            provider = PolicyProviderResource(given.type, plain_struct(given.properties), given.urn, given.name)
            seen.append((given, provider))
            return provider

        resources = [
            PolicyResource(
                r.type,
                plain_struct(r.properties),
                r.urn,
                r.name,
                self._get_resource_options(r),
                provider_of(r),
                None,
                [],
                {},
            )
            for r in request.resources
        ]
        self._link(resources, request)
        return [_SharedStackResource(resource) for resource in resources]

    def AnalyzeStack(self, request: Any, _context: Any) -> Any:  # the gRPC method's name
        self._configure_runtime_settings()
        response = proto.AnalyzeResponse()
        stack_tags = self._private("stack_tags")
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
                shared = shared if shared is not None else self._shared_stack_resources(request)
                config = self._get_policy_config(policy.name)
                resources = shared
                self._run(
                    response,
                    policy,
                    lambda parts=parts, config=config, report=report, resources=resources: report_stack_problems(
                        parts.check(resources, config if config is not None else {}), parts.remediation, report
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
