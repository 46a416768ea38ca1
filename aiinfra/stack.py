"""Reading a Pulumi project the way the CLI does: Pulumi.yaml, its stackConfigDir, stack files."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from aiinfra.core.errors import InputError, Problem

SECRET_NAME = re.compile(r"kubeconfig|token|password|secret|credential|private.?key", re.IGNORECASE)
"""Config keys whose values are secrets whatever the program does with them: refused unless `secure:`."""
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


MAX_INPUT_BYTES = 1 << 20
"""Largest stack, team or project file read (1 MiB; prod's stack is 5 KiB)."""
MAX_INPUT_NODES = 100_000
"""Most YAML nodes a file may expand to, each alias counted at every use: a few hundred bytes of nested
aliases (a "billion laughs") would otherwise expand to gigabytes once serialized."""


class DuplicateKeyError(yaml.MarkedYAMLError):
    """A mapping key given twice; YAML libraries silently keep the last value."""


class _StrictLoader(yaml.SafeLoader):
    """`yaml.safe_load` that refuses duplicate keys."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)  # type: ignore[no-untyped-call]  # PyYAML's own
            if key in seen:
                raise DuplicateKeyError(
                    problem=f"duplicate key {key!r} (also on line {seen[key].start_mark.line + 1})",
                    problem_mark=key_node.start_mark,
                )
            seen[key] = key_node
        return super().construct_mapping(node, deep=deep)


def _expanded_nodes(node: yaml.Node, memo: dict[int, int]) -> int:
    """Nodes of the document once every alias is expanded; shared subtrees are counted once per use."""
    if id(node) not in memo:
        children: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        memo[id(node)] = 1 + sum(_expanded_nodes(child, memo) for child in children)
    return memo[id(node)]


def read_yaml(path: Path) -> Any:
    """The one reader of user YAML (project, stack and team files): UTF-8, at most MAX_INPUT_BYTES, no
    duplicate keys, at most MAX_INPUT_NODES once aliases are expanded. Anything else is an InputError naming
    the file (and line), never a traceback."""
    try:
        size = path.stat().st_size
        if size > MAX_INPUT_BYTES:
            raise InputError(
                Problem(str(path), f"{size} bytes — input files are at most {MAX_INPUT_BYTES} bytes; split it up")
            )
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as err:
        raise InputError(Problem(str(path), f"not UTF-8 text (byte {err.start}); save it as UTF-8 YAML")) from None
    except OSError as err:
        problem = Problem(str(path), f"cannot be read ({err.strerror}); check the path and permissions")
        raise InputError(problem) from None
    try:
        return _construct(path, _StrictLoader(text))
    except DuplicateKeyError as err:
        raise InputError(Problem(_marked(path, err), f"{err.problem}; keep one")) from None
    except yaml.YAMLError as err:  # reported as the file, line and column
        raise InputError(
            Problem(_marked(path, err), f"not valid YAML ({getattr(err, 'problem', err)}); fix the syntax")
        ) from None
    except RecursionError:
        raise InputError(Problem(str(path), "nested too deeply to be a stack or team file")) from None


def _construct(path: Path, loader: _StrictLoader) -> Any:
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if _expanded_nodes(node, {}) > MAX_INPUT_NODES:
            raise InputError(
                Problem(
                    str(path),
                    f"expands to more than {MAX_INPUT_NODES} values through its aliases (&anchor/*alias); "
                    "write the values out",
                )
            )
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _marked(path: Path, err: yaml.YAMLError) -> str:
    mark = getattr(err, "problem_mark", None)
    return f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)


def _mapping(path: Path, data: Any, what: str) -> dict[str, Any]:
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InputError(Problem(str(path), f"a {type(data).__name__} — {what}"))
    return data


def load_project(root: Path) -> Project:
    """The Pulumi project in `root` (as `pulumi -C root` would find it)."""
    manifest = root / "Pulumi.yaml"
    if not manifest.is_file():
        raise InputError(Problem(str(root), "no Pulumi.yaml here; pass -C DIR with a Pulumi Python program"))
    data = _mapping(manifest, read_yaml(manifest), "Pulumi.yaml is a mapping with name:, runtime: and main:")
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
    data = _mapping(path, read_yaml(path), "a stack file is a mapping with a config: key")
    raw_config = data.get("config") or {}
    if not isinstance(raw_config, dict):
        raise InputError(Problem(f"{path}: config", "must be a mapping of keys to values"))
    config: dict[str, str] = {}
    secrets: list[str] = []
    plaintext: list[Problem] = []
    for key, value in raw_config.items():
        full_key = key if ":" in str(key) else f"{project.name}:{key}"
        if isinstance(value, dict) and set(value) == {"secure"}:
            config[full_key] = SECRET_PLACEHOLDER
            secrets.append(full_key)
        elif SECRET_NAME.search(str(key)):
            name = str(key).split(":", 1)[-1]
            plaintext.append(
                Problem(
                    f"{path}: config.{key}",
                    f"a secret in plain text (not shown); remove it and store it encrypted: pulumi config set --secret "
                    f"{name} -s {stack} < FILE",
                )
            )
        else:
            config[full_key] = value if isinstance(value, str) else json.dumps(value)
    if plaintext:
        raise InputError(plaintext)
    return config, secrets


def read_team_files(config_dir: Path) -> list[tuple[str, Any]]:
    """Every `teams/*.yaml` (and `*.yml`) under the stack config dir, as (display path, parsed YAML)."""
    files = sorted(p for p in (config_dir / "teams").glob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
    return [(f"stacks/teams/{p.name}", read_yaml(p)) for p in files]
