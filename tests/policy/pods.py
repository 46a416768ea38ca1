"""Workloads for the pod-security tests: a container and a pod that satisfy every rule of the pack (each test
breaks one thing), and the same pod template inside each of the workload kinds the pack reads."""

from __future__ import annotations

from typing import Any

from aiinfra.plan.engine import Recorded
from tests.policy.conftest import resource

DIGEST_IMAGE = "ghcr.io/example/train:1.4.2@sha256:" + "0123456789abcdef" * 4
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
TEMPLATE_PATHS: dict[str, tuple[str | int, ...]] = {
    "kubernetes:core/v1:Pod": (),
    DEPLOYMENT: ("spec", "template"),
    "kubernetes:apps/v1:ReplicaSet": ("spec", "template"),
    "kubernetes:apps/v1:StatefulSet": ("spec", "template"),
    "kubernetes:apps/v1:DaemonSet": ("spec", "template"),
    "kubernetes:batch/v1:Job": ("spec", "template"),
    "kubernetes:batch/v1:CronJob": ("spec", "jobTemplate", "spec", "template"),
    "kubernetes:jobset.x-k8s.io/v1alpha2:JobSet": ("spec", "replicatedJobs", 0, "template", "spec", "template"),
}
"""Where each workload kind the pack sees keeps its pod template (metadata + spec)."""


def container(**overrides: Any) -> dict[str, Any]:
    """A container that satisfies every pod rule; overrides break one thing."""
    base = {
        "name": "main",
        "image": DIGEST_IMAGE,
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
        "resources": {"limits": {"cpu": "4", "memory": "16Gi"}},
    }
    return {**base, **overrides}


def secured(**security: Any) -> dict[str, Any]:
    """A compliant container whose securityContext also has `security`."""
    return container(securityContext={**container()["securityContext"], **security})


def pod_spec(*containers: dict[str, Any], **fields: Any) -> dict[str, Any]:
    security = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    return {"securityContext": security, "containers": list(containers or [container()]), **fields}


def workload(
    kind: str,
    spec: dict[str, Any],
    *,
    annotations: dict[str, str] | None = None,
    name: str = "trainer",
    namespace: str = "ml",
) -> Recorded:
    """A workload of `kind` whose pod template is `spec` (with pod `annotations`)."""
    template: Any = {"metadata": {"annotations": annotations or {}}, "spec": spec}
    if kind == "kubernetes:core/v1:Pod":
        template["metadata"].update(name=name, namespace=namespace)
        return resource(kind, template, name=name)
    for key in reversed(TEMPLATE_PATHS[kind]):
        template = [template] if isinstance(key, int) else {key: template}
    return resource(kind, {"metadata": {"name": name, "namespace": namespace}, **template}, name=name)


def deployment(spec: dict[str, Any], name: str = "trainer", namespace: str = "ml", **kw: Any) -> Recorded:
    return workload(DEPLOYMENT, spec, name=name, namespace=namespace, **kw)
