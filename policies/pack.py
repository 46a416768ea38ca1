"""The pack's definition: its name, default enforcement and policies in pack order."""

from typing import Any

from pulumi_policy import EnforcementLevel
from rules import aws, azure, gcp, kubernetes, stack

PACK: dict[str, Any] = {
    "name": "aiinfra",
    "description": "Guardrails for hybrid AI clusters on AWS, GCP, Azure and Kubernetes.",
    "enforcement_level": EnforcementLevel.MANDATORY,
    "policies": [*aws.POLICIES, *gcp.POLICIES, *azure.POLICIES, *kubernetes.POLICIES, *stack.POLICIES],
}
