"""Reading a Pulumi project the way the CLI does: Pulumi.yaml, its stackConfigDir, stack files."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from aiinfra.core.errors import InputError, Problem

SECRET_PLACEHOLDER = "[secret]"
"""What an offline plan sees for a `secure:` value: it holds no key to decrypt it."""


@dataclass(frozen=True)
class Project:
    root: Path
    name: str
    main: Path
    config_dir: Path

    def stack_file(self, stack: str) -> Path:
        return self.config_dir / f"Pulumi.{stack}.yaml"

    def stacks(self) -> list[str]:
        return stack_names(self.config_dir)


def stack_names(config_dir: Path) -> list[str]:
    """The stacks with a `Pulumi.<stack>.yaml` in the stack config dir."""
    return sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in config_dir.glob("Pulumi.*.yaml"))


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:  # reported as the file, line and column
        mark = getattr(err, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        raise InputError(
            Problem(f"{path}{where}", f"not valid YAML ({getattr(err, 'problem', err)}); fix the syntax")
        ) from None


def load_project(root: Path) -> Project:
    """The Pulumi project in `root` (as `pulumi -C root` would find it)."""
    manifest = root / "Pulumi.yaml"
    if not manifest.is_file():
        raise InputError(Problem(str(root), "no Pulumi.yaml here; pass -C DIR with a Pulumi Python program"))
    data = _read_yaml(manifest) or {}
    runtime = data.get("runtime")
    runtime_name = runtime.get("name") if isinstance(runtime, dict) else runtime
    if runtime_name != "python":
        raise InputError(Problem(f"{manifest}: runtime", f"{runtime_name!r} — aiinfra plans Python programs only"))
    main = root / data.get("main", "")
    main = main / "__main__.py" if main.is_dir() else main
    if not main.is_file():
        raise InputError(Problem(f"{manifest}: main", f"{main} does not exist; add __main__.py or set main:"))
    return Project(
        root=root, name=str(data.get("name") or root.name), main=main, config_dir=root / data.get("stackConfigDir", ".")
    )


def load_stack_config(project: Project, stack: str) -> tuple[dict[str, str], list[str]]:
    """Stack config as the engine hands it to a program: `ns:key` → string (JSON for objects),
    plus the keys that are secrets."""
    path = project.stack_file(stack)
    if not path.is_file():
        known = ", ".join(project.stacks()) or "none"
        raise InputError(Problem("--stack", f"{stack!r} — no {path.relative_to(project.root)}; known stacks: {known}"))
    data = _read_yaml(path) or {}
    raw_config = data.get("config") or {}
    if not isinstance(raw_config, dict):
        raise InputError(Problem(f"{path}: config", "must be a mapping of keys to values"))
    config: dict[str, str] = {}
    secrets: list[str] = []
    for key, value in raw_config.items():
        full_key = key if ":" in key else f"{project.name}:{key}"
        if isinstance(value, dict) and set(value) == {"secure"}:
            config[full_key] = SECRET_PLACEHOLDER
            secrets.append(full_key)
        else:
            config[full_key] = value if isinstance(value, str) else json.dumps(value)
    return config, secrets


def read_team_files(config_dir: Path) -> list[tuple[str, Any]]:
    """Every `teams/*.yaml` (and `*.yml`) under the stack config dir, as (display path, parsed YAML)."""
    files = sorted(p for p in (config_dir / "teams").glob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
    return [(f"stacks/teams/{p.name}", _read_yaml(p)) for p in files]
