"""checkov, an independent scanner, on what `aiinfra plan --export` writes for prod and for the hybrid stack (every
pool kind and a server on every cloud): no check fails outside the reviewed exceptions of
`aiinfra.core.exceptions` (the project's node daemons, and the fabric wiring of training pods).

checkov does not know JobSets, so each JobSet's pod template is also written as the Job it becomes. checkov runs
from `.venv-checkov` (built by `make test` from tests/checkov-requirements.txt)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from aiinfra.core.exceptions import REVIEWED_SIDECARS, REVIEWED_WORKLOADS
from tests.e2e.test_cli import run_cli

REPO = Path(__file__).resolve().parents[2]
CHECKOV = REPO / ".venv-checkov" / "bin" / "checkov"
FABRIC_CAPABILITIES = {"IPC_LOCK", *(c for sidecar in REVIEWED_SIDECARS for c in sidecar.capabilities)}
"""IPC_LOCK: InfiniBand and RoCE training pods pin memory for verbs (components.kubernetes.fabric)."""
SIDECAR_IMAGES = {sidecar.image for sidecar in REVIEWED_SIDECARS}
SIDECAR_CHECKS = {
    "CKV_K8S_43": lambda container: "@sha256:" in container["image"],
    "CKV_K8S_15": lambda container: "@sha256:" in container["image"],
    "CKV_K8S_22": lambda container: container["securityContext"].get("readOnlyRootFilesystem") is True,
}
"""Checks that the reviewed sidecars fail by running as their vendor's guide says (an image published by tag, a
writable root filesystem): each check's test of one container."""


def with_jobs(exported: Path, root: Path) -> Path:
    """A copy of the exported manifests with a Job beside each JobSet (its one replicated job's template)."""
    shutil.copytree(exported / "kubernetes", root)
    for path in root.glob("*/jobset_*.yaml"):
        jobset = yaml.safe_load(path.read_text())
        (replicated,) = jobset["spec"]["replicatedJobs"]
        metadata = {"name": jobset["metadata"]["name"], "namespace": jobset["metadata"]["namespace"]}
        job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": metadata, "spec": replicated["template"]["spec"]}
        path.with_name(path.name.replace("jobset_", "job_")).write_text(yaml.safe_dump(job))
    return root


def checkov_failures(directory: Path) -> list[dict[str, Any]]:
    if not CHECKOV.exists():
        pytest.fail(f"{CHECKOV.relative_to(REPO)} is missing; `make test` builds it (make .venv-checkov/.installed)")
    result = subprocess.run(
        [str(CHECKOV), "--directory", str(directory), "--framework", "kubernetes", "--output", "json", "--quiet"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,  # 1: some check failed, which the caller sorts
    )
    assert result.returncode in (0, 1), result.stderr[-2000:]
    report = json.loads(result.stdout)
    assert report["summary"]["parsing_errors"] == 0
    assert report["summary"]["resource_count"] > 0
    return report["results"]["failed_checks"]


def _pod_spec(manifest: dict[str, Any]) -> dict[str, Any]:
    spec = manifest["spec"]
    return spec["template"]["spec"] if "template" in spec else spec


def reviewed(failure: dict[str, Any], root: Path) -> bool:
    """A reviewed node daemon, or a training pod failing only where its reviewed fabric wiring must."""
    kind, namespace, name = failure["resource"].split(".", 2)
    if kind == "DaemonSet":
        return any(w.workload == f"{namespace}/{name}" for w in REVIEWED_WORKLOADS)
    if kind != "Job":
        return False
    spec = _pod_spec(yaml.safe_load((root / failure["file_path"].lstrip("/")).read_text()))
    containers = spec["containers"] + spec.get("initContainers", [])
    if failure["check_id"] == "CKV_K8S_25":
        added = {c for container in containers for c in container["securityContext"]["capabilities"].get("add", [])}
        return added <= FABRIC_CAPABILITIES
    if failure["check_id"] in SIDECAR_CHECKS:
        passes = SIDECAR_CHECKS[failure["check_id"]]
        return {c["image"] for c in containers if not passes(c)} <= SIDECAR_IMAGES
    return False


@pytest.mark.parametrize("stack", ["prod", "hybrid"])
def test_checkov_finds_nothing_outside_the_reviewed_exceptions(tmp_path, stack):
    out = tmp_path / "export"
    # The hybrid stack has no policy config of its own; its e2e test plans it under prod's too.
    result = run_cli("plan", "--stack", stack, "--export", str(out), "--policy-config", "policies/config/prod.json")
    assert result.returncode == 0, result.stderr
    root = with_jobs(out, tmp_path / "scan")
    assert list(root.glob("*/job_*.yaml")), "no training job to scan"
    failures = checkov_failures(root)
    unreviewed = sorted(
        f"{f['check_id']} {f['resource']} ({f['check_name']})" for f in failures if not reviewed(f, root)
    )
    assert unreviewed == []
    assert {f["resource"].split(".")[0] for f in failures} <= {"DaemonSet", "Job"}
