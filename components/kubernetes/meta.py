"""Small helpers shared by the Kubernetes components: label hygiene, object metadata, resource sizes."""

from __future__ import annotations

import re
from collections.abc import Mapping

from aiinfra.core.catalog import NodeShape

MANAGED_BY_LABELS = {"app.kubernetes.io/managed-by": "aiinfra"}
POOL_LABEL = "aiinfra.dev/pool"
"""The node label every cloud adapter puts on a pool's nodes (AWS: components.aws.node_group.node_labels)."""
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
"""Set by the API server on every namespace to its name: what NetworkPolicies and queues select namespaces by."""
CRITICAL_ADDONS_TOLERATION = {"key": "CriticalAddonsOnly", "operator": "Exists", "effect": "NoSchedule"}
"""Lets cluster add-ons (operators, queue controllers, their webhooks) run on a system pool kept for them:
AKS taints its system pool `CriticalAddonsOnly`, so on a cluster whose other pools are GPU pools they would
have no node at all. Harmless where no node has the taint."""
GPU_RESOURCE = "nvidia.com/gpu"
TPU_RESOURCE = "google.com/tpu"

_NAME = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")
_PREFIX = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


def valid_label_key(key: str) -> bool:
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not _PREFIX.match(prefix)):
        return False
    return bool(name) and _NAME.match(name) is not None


def valid_label_value(value: str) -> bool:
    return _NAME.match(value) is not None


def pinned_image(image: str) -> bool:
    """True for a digest or an explicit tag other than `latest` (a registry port is not a tag)."""
    if "@sha256:" in image:
        return True
    name = image.rsplit("/", 1)[-1]
    return ":" in name and name.rsplit(":", 1)[1] not in ("", "latest")


def kubernetes_subject(namespace: str, service_account: str) -> str:
    """The `sub` claim of a service account's tokens: what every cloud federates on."""
    return f"system:serviceaccount:{namespace}:{service_account}"


def valid_dns_label(value: str) -> bool:
    return _DNS_LABEL.match(value) is not None


def label_safe(value: str) -> str:
    """A tag value as a label value: other characters become '_', trimmed to 63 and to alphanumeric ends."""
    cleaned = re.sub(r"[^A-Za-z0-9_.-]", "_", value)[:63]
    return re.sub(r"^[^A-Za-z0-9]+|[^A-Za-z0-9]+$", "", cleaned)


def object_labels(tags: Mapping[str, str] | None = None, *extra: Mapping[str, str]) -> dict[str, str]:
    """Stack tags as labels (keys Kubernetes rejects are dropped, values made label-safe), then `extra`,
    then `app.kubernetes.io/managed-by: aiinfra`."""
    labels = {k: label_safe(v) for k, v in (tags or {}).items() if valid_label_key(k)}
    for layer in extra:
        labels.update(layer)
    return {**labels, **MANAGED_BY_LABELS}


def dns_name(text: str) -> str:
    """A DNS label made from free text: lower case, other characters as '-' (e.g. A100-80GB -> a100-80gb)."""
    return re.sub(r"-+", "-", re.sub(r"[^a-z0-9-]", "-", text.lower())).strip("-")[:63]


def accelerator_resource(shape: NodeShape) -> str:
    """The extended resource a pool's accelerators are requested by."""
    return TPU_RESOURCE if shape.tpu is not None else GPU_RESOURCE


def accelerator_tolerations(shape: NodeShape) -> list[dict[str, str]]:
    """Tolerations for the taint clouds put on accelerator nodes (GKE and the AWS adapter taint GPU nodes
    `nvidia.com/gpu`, GKE taints TPU nodes `google.com/tpu`); harmless where the taint is absent."""
    if shape.tpu is not None:
        return [{"key": TPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}]
    if shape.is_gpu:
        return [{"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}]
    return []


def taint_tolerations(taints) -> list[dict[str, str]]:
    """Tolerations matching declared taints exactly (`Equal` with the value, `Exists` when it has none)."""
    out = []
    for t in taints:
        if t.value:
            out.append({"key": t.key, "operator": "Equal", "value": t.value, "effect": t.effect})
        else:
            out.append({"key": t.key, "operator": "Exists", "effect": t.effect})
    return out


def env_vars(values: Mapping[str, str]) -> list[dict[str, str]]:
    """A container's `env` list from a name → value mapping, in its order."""
    return [{"name": k, "value": v} for k, v in values.items()]


def container_resources(cpu: str, memory: str, *, cpu_limit: str | None = None, memory_limit: str | None = None):
    """Requests and limits for a container aiinfra ships; limits default to twice the CPU request and the
    memory request (memory is not compressible, so the request is also the ceiling)."""
    return {
        "requests": {"cpu": cpu, "memory": memory},
        "limits": {"cpu": cpu_limit or _double(cpu), "memory": memory_limit or memory},
    }


def _double(cpu: str) -> str:
    if cpu.endswith("m"):
        return f"{int(cpu[:-1]) * 2}m"
    return str(float(cpu) * 2).removesuffix(".0")
