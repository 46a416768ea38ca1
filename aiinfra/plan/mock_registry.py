"""The registry of mock answers: per resource type, the id and computed outputs a real preview would show, and
per invoke token, its result. `outputs_<cloud>.py` register their answers here with `@resource` / `@invoke`;
`mocks.PlanMocks` looks them up. A leaf module, so the registering modules and the mocks import it, not each
other.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

ACCOUNT_ID = "123456789012"
"""The AWS account id offline plans pretend to run in (the one AWS documentation uses)."""
GCP_PROJECT = "aiinfra-offline"
AZURE_SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"


@dataclass(frozen=True)
class ResourceContext:
    type: str
    name: str
    inputs: dict[str, Any]
    provider_inputs: dict[str, Any]
    """Inputs of the explicit provider the resource uses ({} for the default provider)."""

    def short_hash(self, length: int = 17) -> str:
        return hashlib.sha256(f"{self.type}/{self.name}".encode()).hexdigest()[:length]

    @property
    def aws_region(self) -> str:
        return self.provider_inputs.get("region") or "us-east-1"


ResourceFn = Callable[[ResourceContext], tuple[str, dict[str, Any]]]
InvokeFn = Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]
RESOURCES: dict[str, ResourceFn] = {}
INVOKES: dict[str, InvokeFn] = {}


def resource(*types: str) -> Callable[[ResourceFn], ResourceFn]:
    """Register the id and computed outputs of resource types (`fn(ctx) -> (id, outputs)`)."""

    def register(fn: ResourceFn) -> ResourceFn:
        for t in types:
            RESOURCES[t] = fn
        return fn

    return register


def invoke(*tokens: str) -> Callable[[InvokeFn], InvokeFn]:
    """Register the result of invokes (`fn(args, provider_inputs) -> result`)."""

    def register(fn: InvokeFn) -> InvokeFn:
        for t in tokens:
            INVOKES[t] = fn
        return fn

    return register
