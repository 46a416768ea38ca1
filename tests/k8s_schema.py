"""Validation of rendered Kubernetes objects, for component and workload tests.

`problems(manifest, kubernetes_version)` returns what an API server of that version would reject:

- Built-in kinds: kubernetes-validate's strict JSON schemas for the version (unknown fields are errors,
  as with server-side field validation `Strict`).
- Custom resources (Kueue, JobSet, NicClusterPolicy): the CRD `openAPIV3Schema` shipped in
  tests/data/crds/, made strict the same way. Where a CRD embeds a core type (a JobSet's job template), the
  file names it with `x-aiinfra-k8s-definition` and the version's own core definition is used. jsonschema
  cannot run CEL, so the CRDs' CEL rules that matter are checked in Python (`_cel_problems`).
- Every object: metadata as ObjectMeta, names as DNS subdomains, label and annotation syntax.

A kind with no schema is a problem, never silently accepted.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from referencing import Registry, Resource

CRD_DIR = Path(__file__).parent / "data" / "crds"
DEFINITIONS = "https://kubernetes.io/api/_definitions.json"
SECRET_SIG = "4dabf18193072939515e22adb298388d"
"""Key Pulumi's wire format marks secret values with (they arrive as {SECRET_SIG: ..., "value": v})."""
EXCLUDED_TYPES = ("kubernetes:helm.sh/",)
"""Helm releases are chart references plus values, not API objects."""

_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_PATH_SEGMENT_KINDS = {"ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}


# ---------------------------------------------------------------------------- recorded resources → manifests


def _plain(value: Any) -> Any:
    """Unwrap Pulumi secrets and turn the engine's integral floats back into integers."""
    if isinstance(value, dict):
        if SECRET_SIG in value:
            return _plain(value.get("value"))
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def manifest(recorded) -> dict[str, Any]:
    """The API object a recorded `kubernetes:` resource would send (its inputs, without Pulumi's wrappers)."""
    return _plain(dict(recorded.inputs))


def manifests(run, *, kind: str | None = None) -> list[dict[str, Any]]:
    """Every Kubernetes API object a ProgramRun created (Helm releases excluded), optionally of one kind."""
    found = [
        manifest(r)
        for r in run.resources
        if r.custom and r.type.startswith("kubernetes:") and not r.type.startswith(EXCLUDED_TYPES)
    ]
    return [m for m in found if kind is None or m.get("kind") == kind]


# ---------------------------------------------------------------------------- schemas


@cache
def _k8s_schema_dir(kubernetes_version: str) -> Path:
    root = resources.files("kubernetes_validate") / "kubernetes-json-schema"
    wanted = tuple(int(p) for p in kubernetes_version.removeprefix("v").split(".")[:2])
    available = sorted(
        (tuple(int(p) for p in d.name[1:].split("-")[0].split(".")[:2]), d.name)
        for d in root.iterdir()
        if d.name.endswith("-local-strict")
    )
    older = [name for version, name in available if version <= wanted]
    if not older or available[-1][0] < wanted:
        raise AssertionError(f"kubernetes-validate has no schemas for Kubernetes {kubernetes_version}")
    return Path(str(root / older[-1]))


@cache
def _registry(kubernetes_version: str) -> Registry:
    definitions = json.loads((_k8s_schema_dir(kubernetes_version) / "_definitions.json").read_text())
    return Resource.from_contents(definitions) @ Registry()


@cache
def _core_schema(kubernetes_version: str, api_version: str, kind: str) -> dict | None:
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    path = _k8s_schema_dir(kubernetes_version) / f"{kind.lower()}-{group_version}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _strict(schema: Any) -> Any:
    """CRD schema → JSON Schema that rejects unknown fields and uses core definitions where named."""
    if isinstance(schema, list):
        return [_strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    if "x-aiinfra-k8s-definition" in schema:
        return {"$ref": f"{DEFINITIONS}#/$defs/{schema['x-aiinfra-k8s-definition']}"}
    out = {k: _strict(v) for k, v in schema.items()}
    open_object = "additionalProperties" in out or out.get("x-kubernetes-preserve-unknown-fields")
    if "properties" in out and not open_object:
        out["additionalProperties"] = False
    if out.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
    return out


@cache
def crd_schemas() -> dict[tuple[str, str], dict]:
    """(apiVersion, kind) → strict JSON schema, from every CRD file in tests/data/crds/."""
    schemas = {}
    for path in sorted(CRD_DIR.glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        spec = crd["spec"]
        for version in spec["versions"]:
            schema = _strict(copy.deepcopy(version["schema"]["openAPIV3Schema"]))
            schemas[(f"{spec['group']}/{version['name']}", spec["names"]["kind"])] = schema
    return schemas


# ---------------------------------------------------------------------------- validation


def _errors(schema: dict, instance: Any, kubernetes_version: str, where: str = "") -> list[str]:
    validator = jsonschema.Draft202012Validator(schema, registry=_registry(kubernetes_version))
    return [
        f"{where}{'.'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}"
        for e in sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.absolute_path)))
    ]


def _metadata_problems(m: dict, kubernetes_version: str) -> list[str]:
    meta = m.get("metadata") or {}
    found = _errors(
        {"$ref": f"{DEFINITIONS}#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"},
        meta,
        kubernetes_version,
        "metadata.",
    )
    name = meta.get("name")
    if not name:
        found.append("metadata.name: missing")
    elif m.get("kind") not in _PATH_SEGMENT_KINDS and (len(name) > 253 or not _SUBDOMAIN.match(name)):
        found.append(f"metadata.name: {name!r} is not a DNS subdomain")
    for field in ("labels", "annotations"):
        for key, value in (meta.get(field) or {}).items():
            prefix, _, base = key.rpartition("/")
            if (prefix and not _SUBDOMAIN.match(prefix)) or len(base) > 63 or not _LABEL_NAME.match(base):
                found.append(f"metadata.{field}: key {key!r} is not a qualified name")
            if field == "labels" and value and (len(value) > 63 or not _LABEL_NAME.match(value)):
                found.append(f"metadata.labels: value {value!r} of {key} is not a label value")
    return found


def _cel_problems(m: dict) -> list[str]:
    """Python equivalents of the CRDs' CEL rules (see the x-kubernetes-validations in tests/data/crds/)."""
    kind, spec = m.get("kind"), m.get("spec") or {}
    found: list[str] = []
    if kind == "ClusterQueue":
        groups = spec.get("resourceGroups") or []
        limits = [r for g in groups for f in g.get("flavors", []) for r in f.get("resources", [])]
        if not spec.get("cohortName") and any("borrowingLimit" in r or "lendingLimit" in r for r in limits):
            found.append("spec: borrowingLimit must be nil when cohort is empty")
        names = [f.get("name") for g in groups for f in g.get("flavors", [])]
        if len(names) != len(set(names)):
            found.append(f"spec.resourceGroups: flavor names repeat: {names}")
        for i, group in enumerate(groups):
            covered = group.get("coveredResources", [])
            for flavor in group.get("flavors", []):
                if [r.get("name") for r in flavor.get("resources", [])] != covered:
                    found.append(
                        f"spec.resourceGroups.{i}: flavor {flavor.get('name')} must list {covered} in that order"
                    )
    elif kind == "ResourceFlavor":
        if spec.get("topologyName") and not spec.get("nodeLabels"):
            found.append("spec: at least one nodeLabel is required when topology is set")
        for t in spec.get("tolerations") or []:
            if "key" not in t and t.get("operator") != "Exists":
                found.append(f"spec.tolerations: {t}: operator must be Exists when 'key' is empty")
            if t.get("operator") not in (None, "Equal", "Exists"):
                found.append(f"spec.tolerations: {t}: operator must be Equal or Exists")
            if t.get("operator") == "Exists" and "value" in t:
                found.append(f"spec.tolerations: {t}: a value must be empty when 'operator' is 'Exists'")
            if "tolerationSeconds" in t and t.get("effect") != "NoExecute":
                found.append(f"spec.tolerations: {t}: tolerationSeconds needs effect NoExecute")
            if t.get("effect") not in (None, "NoSchedule", "PreferNoSchedule", "NoExecute"):
                found.append(f"spec.tolerations: {t}: unsupported effect")
    elif kind == "Topology":
        labels = [level.get("nodeLabel") for level in spec.get("levels") or []]
        if len(labels) != len(set(labels)):
            found.append(f"spec.levels: must be unique: {labels}")
        if "kubernetes.io/hostname" in labels[:-1]:
            found.append("spec.levels: the kubernetes.io/hostname label can only be used at the lowest level")
    elif kind == "JobSet":
        jobs = spec.get("replicatedJobs") or []
        names = [j.get("name") for j in jobs]
        if len(names) != len(set(names)):
            found.append(f"spec.replicatedJobs: names repeat: {names}")
        in_order = (spec.get("startupPolicy") or {}).get("startupPolicyOrder") == "InOrder"
        if in_order and any("dependsOn" in j for j in jobs):
            found.append("spec: StartupPolicy and DependsOn APIs are mutually exclusive")
    return found


def problems(m: dict, kubernetes_version: str) -> list[str]:
    """What the API server of `kubernetes_version` (with the shipped CRDs) would reject in manifest `m`."""
    api_version, kind = m.get("apiVersion", ""), m.get("kind", "")
    crd = crd_schemas().get((api_version, kind))
    if crd is not None:
        found = _errors(crd, m, kubernetes_version) + _cel_problems(m)
    else:
        core = _core_schema(kubernetes_version, api_version, kind)
        if core is None:
            return [f"no schema for {api_version} {kind} (Kubernetes {kubernetes_version}, tests/data/crds/)"]
        found = _errors(core, m, kubernetes_version)
    return found + _metadata_problems(m, kubernetes_version)


def assert_valid(found: Iterable[dict], kubernetes_version: str) -> int:
    """Fail with every problem of every manifest; returns how many were checked."""
    checked, report = 0, []
    for m in found:
        checked += 1
        meta = m.get("metadata") or {}
        where = f"{m.get('kind')} {meta.get('namespace', '')}/{meta.get('name')}"
        report += [f"{where}: {p}" for p in problems(m, kubernetes_version)]
    assert not report, "\n".join(report)
    return checked
