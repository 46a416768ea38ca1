"""Mock answers for Kubernetes objects: ids are `namespace/name` (or `name` cluster-wide)."""

from __future__ import annotations

from typing import Any

from aiinfra.plan.mock_registry import RESOURCES, ResourceContext, resource


def kubernetes_object(ctx: ResourceContext) -> tuple[str, dict[str, Any]]:
    metadata = ctx.inputs.get("metadata") or {}
    name = metadata.get("name") or ctx.name
    namespace = metadata.get("namespace")
    uid = ctx.short_hash(32)
    uid = f"{uid[:8]}-{uid[8:12]}-{uid[12:16]}-{uid[16:20]}-{uid[20:32]}"
    return (f"{namespace}/{name}" if namespace else name), {"metadata": {**metadata, "name": name, "uid": uid}}


@resource("kubernetes:helm.sh/v3:Release")
def helm_release(ctx: ResourceContext) -> tuple[str, dict[str, Any]]:
    namespace = ctx.inputs.get("namespace") or "default"
    name = ctx.inputs.get("name") or ctx.name
    return f"{namespace}/{name}", {
        "status": {"name": name, "namespace": namespace, "status": "deployed", "version": ctx.inputs.get("version")}
    }


def answer_for(type_: str):
    """Kubernetes kinds are open-ended (CRDs), so any `kubernetes:` type gets the object answer."""
    return RESOURCES.get(type_) or (kubernetes_object if type_.startswith("kubernetes:") else None)
