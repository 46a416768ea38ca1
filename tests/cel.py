"""A ValidatingAdmissionPolicy evaluated as the API server evaluates it, for component and e2e tests.

`denials(policy_spec, obj)` compiles and runs every variable (in order, each seeing those before it) and every
validation of the policy's spec in a real CEL evaluator (cel-python) against `obj`, and returns the messages of
the validations that do not hold. An expression that fails to evaluate fails the test: the API server would
deny the object by failurePolicy Fail, for a reason no validation states.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import celpy

_ENV = celpy.Environment()


@cache
def _program(expression: str) -> Any:
    return _ENV.program(_ENV.compile(expression))


def evaluate(expression: str, activation: dict[str, Any]) -> Any:
    result = _program(expression).evaluate(activation)
    assert not isinstance(result, celpy.CELEvalError), f"{expression!r} failed to evaluate: {result}"
    return result


def denials(spec: dict[str, Any], obj: dict[str, Any]) -> list[str]:
    """Messages of the validations of `spec` that deny `obj`; [] when it is admitted."""
    activation: dict[str, Any] = {"object": celpy.json_to_cel(obj)}
    variables = celpy.celtypes.MapType()
    activation["variables"] = variables
    for variable in spec.get("variables") or []:
        variables[celpy.celtypes.StringType(variable["name"])] = evaluate(variable["expression"], activation)
    return [v["message"] for v in spec["validations"] if not evaluate(v["expression"], activation)]
