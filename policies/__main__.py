"""The aiinfra policy pack: started by the Pulumi engine (or `aiinfra plan`) as the analyzer plugin."""

from pulumi_policy import EnforcementLevel, PolicyPack
from rules import aws, azure, gcp, kubernetes, stack

PolicyPack(
    name="aiinfra",
    description="Guardrails for hybrid AI clusters on AWS, GCP, Azure and Kubernetes.",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=[*aws.POLICIES, *gcp.POLICIES, *azure.POLICIES, *kubernetes.POLICIES, *stack.POLICIES],
)
