"""The repo's policy pack, started once per test session as the engine starts it, and helpers that
send crafted resources through the analyzer protocol (Analyze per resource, then AnalyzeStack)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from aiinfra.plan.engine import Recorded
from aiinfra.policy.analyzer import Diagnostic, PolicyAnalyzer, StackContext
from aiinfra.policy.config import PolicySetting, configure_request, reconcile

REPO = Path(__file__).resolve().parents[2]
PACK = REPO / "policies"
TEST_CONFIG = {
    "all": PolicySetting("mandatory"),
    "required-tags": PolicySetting(properties={"requiredKeys": ["owner", "cost-center"]}),
    "gpu-count-ceiling": PolicySetting(properties={"maxGpus": 16}),
    "gpu-cost-ceiling": PolicySetting(properties={"maxUsdPerHour": 200}),
    **{
        name: PolicySetting(
            properties={"allowlist": [{"workload": "kube-system/device-plugin", "reason": "reviewed: node agent"}]}
        )
        for name in (
            "k8s-no-privileged",
            "k8s-no-host-namespaces",
            "k8s-no-privilege-escalation",
            "k8s-no-added-capabilities",
            "k8s-run-as-non-root",
            "k8s-seccomp-runtime-default",
            "k8s-gpu-pods-request-gpus",
            "k8s-no-cluster-admin-binding",
        )
    },
}


@pytest.fixture(scope="session")
def started_pack() -> Iterator[PolicyAnalyzer]:
    with PolicyAnalyzer(PACK, StackContext("aiinfra", "test", {})) as analyzer:
        yield analyzer


@pytest.fixture
def pack(started_pack: PolicyAnalyzer) -> PolicyAnalyzer:
    """The session's pack, configured with TEST_CONFIG (tests that reconfigure it do not leak)."""
    started_pack.configure(configure_request(reconcile(started_pack.info, TEST_CONFIG, "test config")))
    return started_pack


def urn_of(type_: str, name: str) -> str:
    return f"urn:pulumi:test::aiinfra::{type_}::{name}"


def resource(
    type_: str,
    inputs: Mapping[str, Any] | None = None,
    *,
    name: str = "r",
    protect: bool = False,
    outputs: Mapping[str, Any] | None = None,
    property_dependencies: Mapping[str, list[str]] | None = None,
    provider: str | None = None,
) -> Recorded:
    """A registration as the plan engine records it; outputs default to the inputs (as in a preview)."""
    inputs = dict(inputs or {})
    return Recorded(
        urn=urn_of(type_, name),
        type=type_,
        name=name,
        parent=None,
        custom=True,
        provider=provider,
        inputs=inputs,
        outputs=dict(outputs if outputs is not None else inputs),
        id=f"{name}-id",
        protect=protect,
        property_dependencies={k: list(v) for k, v in (property_dependencies or {}).items()},
    )


def analyze(pack: PolicyAnalyzer, *resources: Recorded) -> list[Diagnostic]:
    return pack.analyze(list(resources))


def violated(pack: PolicyAnalyzer, *resources: Recorded) -> set[str]:
    return {d.policy_name for d in analyze(pack, *resources)}
