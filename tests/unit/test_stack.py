"""Reading a Pulumi project and stack file the way the Pulumi CLI does."""

import json

import pytest

from aiinfra.core.errors import InputError
from aiinfra.stack import SECRET_PLACEHOLDER, load_project, load_stack_config


def project_dir(tmp_path, manifest: str):
    (tmp_path / "Pulumi.yaml").write_text(manifest)
    (tmp_path / "__main__.py").write_text("")
    return tmp_path


def test_config_values_reach_the_program_as_the_engine_passes_them(tmp_path):
    root = project_dir(tmp_path, "name: demo\nruntime: {name: python}\nstackConfigDir: envs\n")
    (root / "envs").mkdir()
    (root / "envs" / "Pulumi.a.yaml").write_text(
        "config:\n  size: 3\n  aws:region: us-west-2\n  demo:obj: {a: [1, 2]}\n  token:\n    secure: AAAA\n"
    )
    project = load_project(root)
    config, secrets = load_stack_config(project, "a")
    assert config == {
        "demo:size": "3",
        "aws:region": "us-west-2",
        "demo:obj": json.dumps({"a": [1, 2]}),
        "demo:token": SECRET_PLACEHOLDER,
    }
    assert secrets == ["demo:token"] and project.stacks() == ["a"]


@pytest.mark.parametrize(
    ("manifest", "expected"),
    [
        ("name: x\nruntime: nodejs\n", "runtime: 'nodejs' — aiinfra plans Python programs only"),
        ("name: x\nruntime: python\nmain: src/\n", "does not exist; add __main__.py or set main:"),
    ],
)
def test_unusable_projects_are_refused(tmp_path, manifest, expected):
    (tmp_path / "Pulumi.yaml").write_text(manifest)
    with pytest.raises(InputError) as err:
        load_project(tmp_path)
    assert expected in str(err.value)


def test_config_must_be_a_mapping(tmp_path):
    project = load_project(project_dir(tmp_path, "name: x\nruntime: python\n"))
    (tmp_path / "Pulumi.s.yaml").write_text("config: [1]\n")
    with pytest.raises(InputError, match="config: must be a mapping"):
        load_stack_config(project, "s")


ALIAS_BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{b}: &{b} [{', '.join([f'*{a}'] * 9)}]\n" for a, b in zip("abcdef", "bcdefg", strict=True)
)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"- a\n- b\n", "Pulumi.s.yaml: a list — a stack file is a mapping with a config: key"),
        (bytes(range(256)), "Pulumi.s.yaml: not UTF-8 text (byte 128); save it as UTF-8 YAML"),
        (b"config:\n  a: 1\n  a: 2\n", "Pulumi.s.yaml:3:3: duplicate key 'a' (also on line 2); keep one"),
        (b"config:\n  a: [1\n", "Pulumi.s.yaml:3:1: not valid YAML"),
        (ALIAS_BOMB.encode(), "expands to more than 100000 values through its aliases"),
        (b"[" * 5000 + b"]" * 5000, "nested too deeply"),
        (b"config: {}\n" + b"#" * (1 << 20), "bytes — input files are at most 1048576 bytes; split it up"),
    ],
    ids=["list-root", "binary", "duplicate-key", "syntax", "alias-bomb", "deep", "huge"],
)
def test_unreadable_stack_files_are_input_errors_naming_file_and_line(tmp_path, content, expected):
    root = project_dir(tmp_path, "name: demo\nruntime: python\n")
    (root / "Pulumi.s.yaml").write_bytes(content)
    with pytest.raises(InputError) as raised:
        load_stack_config(load_project(root), "s")
    assert expected in str(raised.value)


def test_a_kubeconfig_in_plain_text_is_refused_without_echoing_it(tmp_path):
    root = project_dir(tmp_path, "name: demo\nruntime: python\n")
    (root / "Pulumi.s.yaml").write_text("config:\n  demo:onpremKubeconfig: 'apiVersion: v1 token: hunter2'\n")
    with pytest.raises(InputError) as raised:
        load_stack_config(load_project(root), "s")
    message = str(raised.value)
    assert "config.demo:onpremKubeconfig: a secret in plain text (not shown)" in message
    assert "pulumi config set --secret onpremKubeconfig -s s < FILE" in message
    assert "hunter2" not in message
