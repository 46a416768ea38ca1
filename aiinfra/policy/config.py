"""Policy pack config in Pulumi's `--policy-pack-config` format, reconciled the way the engine does.

The file maps a policy name (or "all") to an enforcement level, or to an object with an optional
`enforcementLevel` and the policy's properties. The engine fills every policy's schema defaults,
applies the pack's initial config, then the file ("all" first), validates each policy's
properties against its JSON schema, and sends the result to the pack with Configure. Entries
that name no policy (aiinfra's waivers) are sent too, so they need a valid enforcement level.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from google.protobuf import json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2

from aiinfra.core.errors import InputError, Problem

LEVELS = ("advisory", "mandatory", "remediate", "disabled")
ALL = "all"


@dataclass(frozen=True)
class PolicySetting:
    enforcement_level: str | None = None
    properties: dict[str, Any] = field(default_factory=dict)


def load_settings(path: Path) -> dict[str, PolicySetting]:
    """Parse a config file as `pulumi --policy-pack-config` does; every problem at once."""
    try:
        text = path.read_text()
    except OSError as err:
        raise InputError(Problem(f"--policy-config {path}", f"cannot read it ({err.strerror})")) from None
    if not text.strip():
        return {}
    try:
        data = json.loads(text)
    except ValueError as err:
        raise InputError(Problem(str(path), f"not valid JSON ({err}); fix the syntax")) from None
    if not isinstance(data, dict):
        raise InputError(Problem(str(path), "must be a JSON object of policy name → level or settings"))
    settings: dict[str, PolicySetting] = {}
    problems: list[Problem] = []
    for key, value in data.items():
        where = f"{path}: {key}"
        if isinstance(value, str):
            level, properties = value, {}
        elif isinstance(value, dict):
            properties = dict(value)
            level = properties.pop("enforcementLevel", None)
        else:
            problems.append(Problem(where, f"{value!r} is not a valid value; write a level or an object"))
            continue
        if level is not None and level not in LEVELS:
            problems.append(Problem(where, f"{level!r} is not an enforcement level; use one of {', '.join(LEVELS)}"))
        elif level is not None or properties:
            settings[key] = PolicySetting(level, properties)
    if problems:
        raise InputError(problems)
    return settings


def _schema(policy: analyzer_pb2.PolicyInfo) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object"}
    if policy.configSchema.properties:
        schema["properties"] = json_format.MessageToDict(policy.configSchema.properties)
    if policy.configSchema.required:
        schema["required"] = list(policy.configSchema.required)
    return schema


def _apply(result: dict[str, PolicySetting], given: Mapping[str, PolicySetting]) -> None:
    everything = given.get(ALL)
    if everything is not None and everything.enforcement_level is not None:
        for name, setting in result.items():
            result[name] = PolicySetting(everything.enforcement_level, setting.properties)
    for name, setting in given.items():
        current = result.get(name, PolicySetting())
        result[name] = PolicySetting(
            setting.enforcement_level or current.enforcement_level, {**current.properties, **setting.properties}
        )


def reconcile(
    info: analyzer_pb2.AnalyzerInfo, given: Mapping[str, PolicySetting], source: str
) -> dict[str, PolicySetting]:
    """Defaults, then the pack's initial config, then `given`; validated against each policy's schema."""
    from jsonschema import Draft7Validator

    result: dict[str, PolicySetting] = {}
    for policy in info.policies:
        defaults = {
            key: prop["default"]
            for key, prop in _schema(policy).get("properties", {}).items()
            if isinstance(prop, dict) and "default" in prop
        }
        result[policy.name] = PolicySetting(analyzer_level(policy.enforcementLevel), defaults)
    initial = {
        name: PolicySetting(analyzer_level(config.enforcementLevel), json_format.MessageToDict(config.properties))
        for name, config in info.initialConfig.items()
    }
    _apply(result, initial)
    _apply(result, given)

    problems = []
    for policy in info.policies:
        validator = Draft7Validator(_schema(policy))
        for error in validator.iter_errors(result[policy.name].properties):
            at = ".".join(str(p) for p in error.absolute_path)
            problems.append(Problem(f"{source}: {policy.name}{'.' + at if at else ''}", error.message))
    for name, setting in result.items():
        if setting.enforcement_level is None:
            problems.append(
                Problem(
                    f"{source}: {name}",
                    'names no policy of the pack and has no "enforcementLevel"; the engine rejects such '
                    'entries, so add "enforcementLevel": "disabled"',
                )
            )
    if problems:
        raise InputError(problems)
    return result


def analyzer_level(value: int) -> str:
    return analyzer_pb2.EnforcementLevel.Name(cast(Any, value)).lower()  # the stubs want the enum's NewType


def configure_request(settings: Mapping[str, PolicySetting]) -> dict[str, analyzer_pb2.PolicyConfig]:
    """The reconciled settings as Configure's `policyConfig`."""
    config = {}
    for name, setting in settings.items():
        properties = struct_pb2.Struct()
        properties.update(setting.properties)
        config[name] = analyzer_pb2.PolicyConfig(
            enforcementLevel=analyzer_pb2.EnforcementLevel.Value(str(setting.enforcement_level).upper()),
            properties=properties,
        )
    return config
