"""What every rule shares: unknown-safe property access, IAM policy documents, and the two
constructors that turn a small check function into a pulumi_policy Policy with its metadata.

Checks receive plain values: dicts and lists, with values that are unknown during preview
replaced by `UNKNOWN`. A check reports a violation only for a *known* bad value; an unknown
value is never a violation (the engine re-runs the pack during `pulumi up`, when it is known).
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyComplianceFramework,
    PolicyConfigSchema,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy import proxy as _proxy

_UNKNOWN_SENTINELS = frozenset(
    {
        _proxy.UNKNOWN_BOOLEAN_VALUE,
        _proxy.UNKNOWN_NUMBER_VALUE,
        _proxy.UNKNOWN_STRING_VALUE,
        _proxy.UNKNOWN_ARRAY_VALUE,
        _proxy.UNKNOWN_ASSET_VALUE,
        _proxy.UNKNOWN_ARCHIVE_VALUE,
        _proxy.UNKNOWN_OBJECT_VALUE,
    }
)


WORLD = ("0.0.0.0/0", "::/0")
"""CIDRs that mean every address."""


class _Unknown:
    """A value the engine cannot know during preview (an output of a resource not yet created)."""

    def __repr__(self) -> str:
        return "<unknown during preview>"


UNKNOWN: Any = _Unknown()


def plain(value: Any) -> Any:
    """The SDK's unknown-checking proxies as plain dicts and lists, unknowns as `UNKNOWN`."""
    if isinstance(value, Mapping):
        target = value["__target"] if isinstance(value, _proxy._DictProxy) else value
        return {key: plain(item) for key, item in target.items()}
    if isinstance(value, _proxy._ListProxy):
        return [plain(item) for item in value["__target"]]
    if isinstance(value, list):
        return [plain(item) for item in value]
    if isinstance(value, str) and value in _UNKNOWN_SENTINELS:
        return UNKNOWN
    return value


def get(value: Any, *path: str | int) -> Any:
    """`value[path[0]][path[1]]...`: None where something is missing, UNKNOWN where unknown."""
    for key in path:
        if value is UNKNOWN:
            return UNKNOWN
        if isinstance(value, dict):
            value = value.get(key)  # type: ignore[arg-type]  # an int key of a dict just finds nothing
        elif isinstance(value, list) and isinstance(key, int) and -len(value) <= key < len(value):
            value = value[key]
        else:
            return None
    return value


def items(value: Any) -> list[Any]:
    """The known elements of a list (an unknown or missing list has none)."""
    return [item for item in value if item is not UNKNOWN] if isinstance(value, list) else []


def strings(value: Any) -> list[str]:
    """A string-or-list-of-strings field (IAM `Action`, `Resource`) as a list of its known strings."""
    if isinstance(value, str):
        return [value]
    return [item for item in items(value) if isinstance(item, str)]


def is_true(value: Any) -> bool:
    """True for `true` and for the string "true" (several AWS launch template fields are strings)."""
    return value is True or (isinstance(value, str) and value.lower() == "true")


def is_false(value: Any) -> bool:
    return value is False or (isinstance(value, str) and value.lower() == "false")


def not_true(value: Any) -> bool:
    """Known not to be true: false or left unset (for settings whose default is the insecure one)."""
    return value is None or is_false(value)


def number(value: Any) -> float | None:
    """A known number (engine numbers arrive as floats, some providers send numeric strings)."""
    if isinstance(value, bool) or value is UNKNOWN:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def policy_statements(document: Any) -> list[dict[str, Any]]:
    """The statements of an IAM-style policy document given as JSON text or as an object."""
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except ValueError:
            return []
    statements = get(document, "Statement")
    if isinstance(statements, dict):
        return [statements]
    return [s for s in items(statements) if isinstance(s, dict)]


def allows(statement: dict[str, Any]) -> bool:
    return statement.get("Effect", "Allow") == "Allow"


def principals(statement: dict[str, Any]) -> list[str]:
    """Every principal a statement names ("*" for `"Principal": "*"`)."""
    principal = statement.get("Principal")
    if isinstance(principal, dict):
        return [name for value in principal.values() for name in strings(value)]
    return strings(principal)


def allowlisted(config: Mapping[str, Any], key: str) -> bool:
    """Whether `key` (e.g. "kube-system/nvidia-device-plugin") matches a reviewed allowlist entry."""
    return any(
        isinstance(entry, Mapping) and fnmatch.fnmatchcase(key, str(entry.get("workload", "")))
        for entry in config.get("allowlist") or []
    )


ALLOWLIST_SCHEMA = PolicyConfigSchema(
    properties={
        "allowlist": {
            "type": "array",
            "description": "Reviewed exceptions: workloads (namespace/name, globs allowed) and why they need it.",
            "items": {
                "type": "object",
                "properties": {
                    "workload": {"type": "string", "minLength": 1},
                    "reason": {"type": "string", "minLength": 1},
                },
                "required": ["workload", "reason"],
            },
            "default": [],
        }
    }
)


@dataclass(frozen=True)
class Control:
    """The control of a compliance framework a rule implements, plus the checkov checks it matches."""

    framework: str
    version: str
    reference: str
    title: str
    checkov: tuple[str, ...] = ()

    def as_framework(self) -> PolicyComplianceFramework:
        return PolicyComplianceFramework(
            name=self.framework, version=self.version, reference=self.reference, specification=self.title
        )


def checkov_control(check_id: str, title: str) -> Control:
    """A control that checkov names where no CIS benchmark has a matching recommendation."""
    return Control("Checkov", "3", check_id, title, (check_id,))


CIS_AWS = ("CIS AWS Foundations Benchmark", "3.0.0")
CIS_EKS = ("CIS Amazon EKS Benchmark", "1.5.0")
CIS_GCP = ("CIS Google Cloud Platform Foundation Benchmark", "2.0.0")
CIS_GKE = ("CIS Google Kubernetes Engine Benchmark", "1.2.0")
CIS_AZURE = ("CIS Microsoft Azure Foundations Benchmark", "2.0.0")
CIS_K8S = ("CIS Kubernetes Benchmark", "1.8.0")
AIINFRA = ("aiinfra platform baseline", "1")
"""Controls of this project's own standard, where no public benchmark has one."""


RULE_CONTROLS: dict[str, tuple[Control, ...]] = {}
"""Every rule's controls by rule name: the one its metadata's framework names first, then the controls of other
standards it also implements (Pod Security Standards, CIS benchmark items). docs/policy-coverage.md is built
from these."""


def _metadata(
    name: str,
    description: str,
    severity: Severity,
    remediation: str,
    control: Control,
    domain: str,
    standards: Iterable[Control] = (),
) -> dict[str, Any]:
    controls = (control, *standards)
    RULE_CONTROLS[name] = controls
    checkov = dict.fromkeys(check for c in controls for check in c.checkov)
    return {
        "name": name,
        "description": description,
        "severity": severity,
        "framework": control.as_framework(),
        "tags": [domain, *checkov],
        "remediation_steps": remediation,
    }


ResourceCheck = Callable[[dict[str, Any], ResourceValidationArgs], Iterable[str]]


@dataclass(frozen=True)
class ResourceRuleParts:
    """What `resource_rule` built a policy from, so a servicer can dispatch by type and share one decoded
    resource among the rules of its type (checks never mutate their inputs)."""

    types: frozenset[str]
    check: ResourceCheck
    remediation: str


RESOURCE_RULES: dict[ResourceValidationPolicy, ResourceRuleParts] = {}
"""Every policy `resource_rule` built, with its parts (the pack's servicer looks them up)."""


def resource_rule(
    *,
    name: str,
    description: str,
    types: Iterable[str],
    severity: Severity,
    remediation: str,
    control: Control,
    domain: str,
    enforcement: EnforcementLevel | None = None,
    config_schema: PolicyConfigSchema | None = None,
    standards: Iterable[Control] = (),
) -> Callable[[ResourceCheck], ResourceValidationPolicy]:
    """Decorator: `check(props, args)` yields one message per problem of a resource of `types`. `control` is
    the rule's own control (its metadata's framework); `standards` are the other controls it implements."""
    applies_to = frozenset(types)

    def build(check: ResourceCheck) -> ResourceValidationPolicy:
        def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
            if args.resource_type in applies_to:
                report_problems(check(plain(args.props), args), remediation, report)

        policy = ResourceValidationPolicy(
            validate=validate,
            enforcement_level=enforcement,
            config_schema=config_schema,
            **_metadata(name, description, severity, remediation, control, domain, standards),
        )
        RESOURCE_RULES[policy] = ResourceRuleParts(applies_to, check, remediation)
        return policy

    return build


def report_problems(problems: Iterable[str], remediation: str, report: ReportViolation) -> None:
    for problem in problems:
        report(f"{problem}\nRemediation: {remediation}", None)


class StackResource:
    """One resource as a stack check sees it: outputs as plain values, converted on first use."""

    def __init__(self, resource: PolicyResource):
        self._resource = resource
        self.type: str = resource.resource_type
        self.urn: str = resource.urn
        self.name: str = resource.name
        self.protect: bool = resource.opts.protect

    @cached_property
    def props(self) -> dict[str, Any]:
        return plain(self._resource.props)

    @property
    def provider_urn(self) -> str | None:
        """The provider the resource is created through (its cluster, for Kubernetes objects)."""
        return self._resource.provider.urn if self._resource.provider else None

    @cached_property
    def provider_props(self) -> dict[str, Any]:
        return plain(self._resource.provider.props) if self._resource.provider else {}

    def depends_on(self, other: StackResource, prop: str) -> bool:
        """Whether property `prop` of this resource was computed from `other` (e.g. a bucket's id)."""
        return any(d.urn == other.urn for d in self._resource.property_dependencies.get(prop, []))


StackCheck = Callable[[list[StackResource], Mapping[str, Any]], Iterator[tuple[str | None, str]]]


@dataclass(frozen=True)
class StackRuleParts:
    """What `stack_rule` built a policy from, so a servicer can hand every stack rule the same resources."""

    check: StackCheck
    remediation: str


STACK_RULES: dict[StackValidationPolicy, StackRuleParts] = {}
"""Every policy `stack_rule` built, with its parts."""


def report_stack_problems(
    problems: Iterable[tuple[str | None, str]], remediation: str, report: ReportViolation
) -> None:
    for urn, problem in problems:
        report(f"{problem}\nRemediation: {remediation}", urn)


def stack_rule(
    *,
    name: str,
    description: str,
    severity: Severity,
    remediation: str,
    control: Control,
    domain: str,
    enforcement: EnforcementLevel | None = None,
    config_schema: PolicyConfigSchema | None = None,
    standards: Iterable[Control] = (),
) -> Callable[[StackCheck], StackValidationPolicy]:
    """Decorator: `check(resources, config)` yields (urn or None for the stack, message) per problem."""

    def build(check: StackCheck) -> StackValidationPolicy:
        def validate(args: StackValidationArgs, report: ReportViolation) -> None:
            report_stack_problems(
                check([StackResource(r) for r in args.resources], args.get_config()), remediation, report
            )

        policy = StackValidationPolicy(
            validate=validate,
            enforcement_level=enforcement,
            config_schema=config_schema,
            **_metadata(name, description, severity, remediation, control, domain, standards),
        )
        STACK_RULES[policy] = StackRuleParts(check, remediation)
        return policy

    return build
