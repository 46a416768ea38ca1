"""The mock engine's answers: realistic ids and computed outputs per resource type, and invoke
results, so programs that read ARNs, endpoints or zones behave as they would in a preview.

Cloud-specific answers live in `outputs_<cloud>.py` and register in `mock_registry` with `@resource` /
`@invoke`.
An invoke nobody answers is an error naming the token, never a silent empty result.
"""

from __future__ import annotations

from typing import Any

from pulumi.runtime.mocks import MockCallArgs, MockResourceArgs, Mocks

from aiinfra.plan import (  # noqa: F401  (they register)
    outputs_aws,
    outputs_azure,
    outputs_docker,
    outputs_gcp,
    outputs_kubernetes,
)
from aiinfra.plan.mock_registry import INVOKES, RESOURCES, ResourceContext


class UnansweredInvokeError(Exception):
    pass


class PlanMocks(Mocks):
    """Answers the mock monitor with outputs a real preview would show."""

    def __init__(self) -> None:
        self.provider_inputs: dict[str, dict[str, Any]] = {}

    def _provider(self, ref: str | None) -> dict[str, Any]:
        if not ref:
            return {}
        # ref is "<urn>::<id>"; a URN is urn:pulumi:<stack>::<project>::<parent$...$type>::<name>.
        parts = ref.split("::")
        return self.provider_inputs.get(f"{parts[2].split('$')[-1]}::{parts[3]}", {})

    def new_resource(self, args: MockResourceArgs) -> tuple[str, dict[str, Any]]:
        ctx = ResourceContext(args.typ, args.name, args.inputs, self._provider(args.provider))
        fn = RESOURCES.get(args.typ) or outputs_kubernetes.answer_for(args.typ) or _generic
        id_, computed = fn(ctx)
        if args.typ.startswith("pulumi:providers:"):
            # Remember provider inputs (region, project) for the resources and invokes that use it.
            self.provider_inputs[f"{args.typ}::{args.name}"] = dict(args.inputs)
        return id_, {**args.inputs, **computed}

    def call(self, args: MockCallArgs) -> dict[str, Any]:
        fn = INVOKES.get(args.token)
        if fn is None:
            raise UnansweredInvokeError(
                f"the offline plan has no answer for invoke {args.token}; add one in aiinfra/plan/outputs_*.py"
            )
        return fn(args.args, self._provider(args.provider))


def _generic(ctx: ResourceContext) -> tuple[str, dict[str, Any]]:
    if ctx.type.startswith("pulumi:providers:"):
        return f"{ctx.short_hash(8)}-{ctx.short_hash(4)}-{ctx.short_hash(4)}", {}
    return f"{ctx.name}-{ctx.short_hash(7)}", {}
