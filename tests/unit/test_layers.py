"""What the layers promise at run time (import-linter checks the import graph; these check what a fresh
interpreter really loads): the core needs nothing but the standard library, and the policy pack loads neither
the cloud SDKs nor torch nor any layer above the core."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CORE_MODULES = [
    "aiinfra.core",
    "aiinfra.core.catalog",
    "aiinfra.core.catalog.data",
    "aiinfra.core.catalog.model",
    "aiinfra.core.catalog.prices",
    "aiinfra.core.errors",
    "aiinfra.core.exceptions",
    "aiinfra.core.lake",
    "aiinfra.core.pod_security",
    "aiinfra.core.tags",
    "aiinfra.core.vocab",
]


def loaded_after(code: str, cwd: Path) -> set[str]:
    """The modules a fresh interpreter holds after running `code`."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return set(json.loads(result.stdout.splitlines()[-1]))


def test_every_core_module_needs_only_the_standard_library():
    modules = {
        p.relative_to(REPO).with_suffix("").as_posix().replace("/", ".").removesuffix(".__init__")
        for p in (REPO / "aiinfra" / "core").rglob("*.py")
    }
    assert modules == set(CORE_MODULES), "a new core module: add it to CORE_MODULES"
    loaded = {m.split(".")[0] for m in loaded_after("\n".join(f"import {m}" for m in CORE_MODULES), REPO)}
    at_startup = {m.split(".")[0] for m in loaded_after("", REPO)}
    third_party = sorted(loaded - at_startup - set(sys.stdlib_module_names) - {"aiinfra"})
    assert third_party == []


def test_the_policy_pack_loads_no_cloud_sdk_torch_or_layer_above_the_core():
    # As the engine starts it: `python __main__.py` in policies/, so `rules` is a top-level package.
    loaded = loaded_after(
        "import sys; sys.path.insert(0, '.')\nfrom rules import aws, azure, gcp, kubernetes, stack",
        REPO / "policies",
    )
    top_level = {m.split(".")[0] for m in loaded}
    assert {"pulumi_policy", "rules"} <= top_level
    heavy = {"torch", "pulumi_aws", "pulumi_gcp", "pulumi_azure_native", "pulumi_kubernetes", "components", "workloads"}
    assert sorted(top_level & heavy) == []
    assert sorted(m for m in loaded if m.startswith("aiinfra.") and not m.startswith("aiinfra.core")) == []
