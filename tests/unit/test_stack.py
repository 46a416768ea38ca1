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
