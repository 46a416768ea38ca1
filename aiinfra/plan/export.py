"""`aiinfra plan --export DIR`: what reviewers read — Kubernetes manifests per cluster, IAM documents."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import yaml

from aiinfra.output import unwritable
from aiinfra.plan.engine import ProgramRun, Recorded
from aiinfra.plan.preview import _mask

CLUSTER_TYPE = "aiinfra:index:Cluster"
# Inputs that hold IAM-style policy documents, by resource type.
POLICY_INPUTS = {
    "aws:iam/role:Role": ("assumeRolePolicy",),
    "aws:iam/policy:Policy": ("policy",),
    "aws:iam/rolePolicy:RolePolicy": ("policy",),
    "aws:s3/bucketPolicy:BucketPolicy": ("policy",),
    "aws:kms/key:Key": ("policy",),
}
UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _owning_cluster(r: Recorded, by_urn: dict[str, Recorded]) -> str | None:
    """The aiinfra Cluster a Kubernetes object belongs to: the one that owns its provider."""
    node = by_urn.get(r.provider.rsplit("::", 1)[0]) if r.provider else None
    while node is not None:
        if node.type == CLUSTER_TYPE:
            return node.name
        node = by_urn.get(node.parent) if node.parent else None
    return None


def _manifest(r: Recorded) -> dict[str, Any]:
    if r.type == "kubernetes:helm.sh/v3:Release":
        # A Helm release is reviewed as its chart reference and values.
        keys = ("name", "namespace", "chart", "version", "repositoryOpts", "values")
        return {"kind": "HelmRelease", **{k: _integers(r.inputs[k]) for k in keys if k in r.inputs}}
    return _integers(dict(r.inputs))


def _integers(value: Any) -> Any:
    """The engine's wire format carries every number as a double; Kubernetes' integer fields (ports, runAsUser,
    replicas) refuse `8000.0`, so integral numbers are written as the integers they were."""
    if isinstance(value, dict):
        return {k: _integers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_integers(v) for v in value]
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _document(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def export(run: ProgramRun, out: Path) -> list[Path]:
    """Write the review files; replaces the `kubernetes/` and `iam/` folders under `out`. A failure to write
    is an InputError naming --export."""
    try:
        return _export(run, out)
    except OSError as err:
        raise unwritable(out, "--export", err) from None


def _export(run: ProgramRun, out: Path) -> list[Path]:
    by_urn = run.by_urn()
    written: list[Path] = []
    for sub in ("kubernetes", "iam"):
        shutil.rmtree(out / sub, ignore_errors=True)
    for r in run.resources:
        if r.type.startswith("kubernetes:") and r.custom:
            cluster = _owning_cluster(r, by_urn) or "unassigned"
            manifest = _mask(_manifest(r))
            meta = manifest.get("metadata") or {}
            parts = [
                manifest.get("kind", r.type.rsplit(":", 1)[-1]),
                meta.get("namespace") or "",
                meta.get("name") or manifest.get("name") or r.name,
            ]
            path = out / "kubernetes" / cluster / (UNSAFE.sub("-", "_".join(p for p in parts if p)).lower() + ".yaml")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(yaml.safe_dump(manifest, sort_keys=False))
            written.append(path)
        for key in POLICY_INPUTS.get(r.type, ()):
            if r.inputs.get(key):
                path = out / "iam" / f"{UNSAFE.sub('-', r.name)}.{key}.json"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps(_document(r.inputs[key]), indent=2) + "\n")
                written.append(path)
    return written
