"""Recorded registrations → the JSON `pulumi preview --json` prints, plus aiinfra's additions."""

from __future__ import annotations

from collections import Counter
from typing import Any

from pulumi.runtime import rpc

from aiinfra.plan.engine import ProgramRun, Recorded

SECRET = "[secret]"


def _mask(value: Any) -> Any:
    """Secrets print as "[secret]", as the Pulumi CLI does."""
    if isinstance(value, dict):
        if value.get(rpc._special_sig_key) == rpc._special_secret_sig:
            return SECRET
        return {k: _mask(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(v) for v in value]
    return value


def _step(r: Recorded) -> dict[str, Any]:
    state: dict[str, Any] = {"urn": r.urn, "custom": r.custom, "type": r.type, "inputs": _mask(r.inputs)}
    if r.parent:
        state["parent"] = r.parent
    if r.provider:
        state["provider"] = r.provider
    if r.protect:
        state["protect"] = True
    if r.dependencies:
        state["dependencies"] = r.dependencies
    if r.property_dependencies:
        state["propertyDependencies"] = r.property_dependencies
    step: dict[str, Any] = {"op": "create", "urn": r.urn, "newState": state}
    if r.provider:
        step["provider"] = r.provider
    return step


def preview_document(run: ProgramRun, config: dict[str, str], secret_keys: list[str]) -> dict[str, Any]:
    """The plan as JSON. `policyViolations` and `cost` are filled in by later stages."""
    steps = [_step(r) for r in run.resources]
    return {
        "config": {k: (SECRET if k in secret_keys else v) for k, v in config.items()},
        "steps": steps,
        "diagnostics": [{"urn": d.urn, "message": d.message, "severity": d.severity} for d in run.diagnostics],
        "changeSummary": dict(Counter(s["op"] for s in steps)),
        "outputs": _mask(run.stack_outputs),
        "policyViolations": [],
        "cost": None,
    }
