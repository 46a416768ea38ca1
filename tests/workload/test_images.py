"""The images, checked without Docker: each Dockerfile's COPY lines are replayed into an empty directory (the
image's WORKDIR), and each image's Python packages are installed from its requirements file into a fresh
virtualenv, as the image's `pip install --requirement` does. From that tree, with that virtualenv's interpreter,
every module the image copies imports, the entry point starts (`--help`), and the server answers a real completion
on a tiny exported model read from each object store. A file the Dockerfile does not copy, or a package its
requirements file does not name, fails here. The serving image is also checked to carry no training, deploy or
Pulumi code and none of their packages.

What the fresh virtualenvs reuse, and why:
- torch, and only torch. The images get torch 2.13.0 from elsewhere than a resolution here would: the training image
  from its base image (pytorch/pytorch), the serving image from PyPI's CUDA build, whose download is several GB,
  which CI must not fetch. So the main environment's torch 2.13.0 (the CPU build constraints.txt pins) is linked
  into the virtualenv's site-packages: a symlink per top-level entry of torch's own RECORD (torch, torchgen,
  functorch, its dist-info), nothing else of the main environment. What torch requires (its metadata less extras:
  filelock, typing-extensions, setuptools, sympy, networkx, jinja2, fsspec) is resolved from PyPI with the rest,
  as in the image; the CUDA build's extra requirements (nvidia-*, triton) are not, since nothing loads them on a CPU.
  `test_each_image_gets_the_torch_the_tests_link` checks that the image's torch is that version.
- the main environment's base interpreter (CPython 3.11, as in the images) and uv 0.13.8 from `.venv-xla` (where
  the Makefile installs it; `make test` builds `.venv-xla` first). Every other package is resolved and installed by
  uv from PyPI, unconstrained like the image's pip (newest versions the requirements file allows).
- the XLA training image keeps `.venv-xla` itself: it is built from the very lock the image installs.

The virtualenvs are built once and kept beside the running environment (`.venv/image-venvs/<image>-<hash>`, the
hash of the installed requirement lines and of the Python and torch versions), with uv's download cache, so a rerun
reuses them and a changed requirements file builds anew. Their processes run in the tree with `-s` and without
PYTHONPATH, so nothing of the repository but the tree is on the path (the import test checks sys.path)."""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import torch
from filelock import FileLock
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from components.registry import dockerfile_sources
from workloads.shared.export import export_model
from workloads.shared.lake_url import OBJECT_STORES, storage_options
from workloads.shared.model import RECIPES, Transformer

REPO = Path(__file__).resolve().parents[2]
IMAGES = {
    "training": (["-m", "workloads.training.train", "--help"], ["workloads.shared", "workloads.training"]),
    "training-xla": (["-m", "workloads.training.train", "--help"], ["workloads.shared", "workloads.training"]),
    "serving": (["-m", "workloads.serving", "--help"], ["workloads.shared", "workloads.serving"]),
}
FRESH = sorted(image for image in IMAGES if not image.endswith("-xla"))
"""The images tested in a fresh virtualenv built from their requirements file."""
XLA_VENV = REPO / ".venv-xla"
UV = XLA_VENV / "bin" / "uv"
VENVS = Path(sys.prefix) / "image-venvs"
VENV_LAYOUT = 1
"""Part of each virtualenv's hash: raise it when the way a virtualenv is built changes."""
TORCH = importlib.metadata.distribution("torch")
FILESYSTEMS = {"s3": "s3", "gcs": "gs", "azure": "abfs"}
"""The fsspec protocol through which `workloads.shared.lake.Lake` opens each object store."""
SERVING_TREE = (
    "aiinfra/__init__.py",
    "aiinfra/core/",
    "workloads/__init__.py",
    "workloads/shared/",
    "workloads/serving/",
)
NOT_FOR_SERVING = {
    "numpy": "only the trainer's data loader uses it (torch runs without it)",
    "boto3": "the local loop's lake (the server reads S3 through s3fs)",
    "moto": "the local loop's lake",
}
NOT_FOR_SERVING_PREFIXES = ("pulumi", "torch-xla")
"""Distributions the serving image must not install: the deploy side (Pulumi), the TPU trainer's torch_xla."""
SERVER_MUST_NOT_IMPORT = (
    "workloads.training",
    "workloads.deploy",
    "torch.distributed.run",
    "torch.distributed.elastic",
    "torch.distributed.checkpoint",
)
"""The trainer, the deploy components, and what only training uses of torch: the launcher and checkpoints."""
NOT_IMPORTED_PACKAGES = tuple(f"{name}." for name in SERVER_MUST_NOT_IMPORT)
POLLS = 1200
"""Bound of every wait loop (x 50 ms): a hang guard, generous for a loaded CI machine."""


def dockerfile_of(image: str) -> Path:
    """workloads/<image>/Dockerfile; `<image>-xla` is workloads/<image>/Dockerfile.xla."""
    base, _, variant = image.partition("-")
    return REPO / "workloads" / base / ("Dockerfile" + (f".{variant}" if variant else ""))


def requirements_of(image: str) -> Path:
    return REPO / "workloads" / image.partition("-")[0] / "requirements.txt"


def assemble(dockerfile: Path, root: Path) -> None:
    """Lay out the image's WORKDIR as its COPY lines do; copies to absolute paths (build inputs) are skipped."""
    for sources, destination in dockerfile_sources(dockerfile):
        if destination.startswith("/"):
            continue
        for source in sources:
            origin = REPO / source
            target = root / destination
            if origin.is_dir():
                shutil.copytree(origin, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                target.mkdir(parents=True, exist_ok=True)
                shutil.copy2(origin, target / origin.name)


def torch_of_image(image: str) -> str:
    """The torch version the image installs: its requirements file's pin, else its base image's tag."""
    for line in requirements_of(image).read_text().splitlines():
        text = line.partition("#")[0].strip()
        if text and canonicalize_name(Requirement(text).name) == "torch":
            return text.partition("==")[2]
    base = re.search(r"^FROM pytorch/pytorch:([^-\s]+)-", dockerfile_of(image).read_text(), re.MULTILINE)
    assert base, f"the {image} image names neither a torch pin nor a pytorch/pytorch base image"
    return base.group(1)


def torch_requirements() -> list[str]:
    """What the linked torch requires: its metadata, extras left out."""
    required = (Requirement(r) for r in TORCH.requires or [])
    return [str(r) for r in required if r.marker is None or r.marker.evaluate({"extra": ""})]


def install_lines(image: str) -> list[str]:
    """What uv installs into the image's virtualenv: its requirements file less torch, and torch's requirements."""
    lines = []
    for line in requirements_of(image).read_text().splitlines():
        text = line.partition("#")[0].strip()
        if text and canonicalize_name(Requirement(text).name) != "torch":
            lines.append(text)
    return [*lines, *torch_requirements()]


def site_packages(venv: Path) -> Path:
    return Path(sysconfig.get_path("purelib", "venv", vars={"base": str(venv), "platbase": str(venv)}))


def check_call(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
    if result.returncode:
        pytest.fail(
            f"{shlex.join(command)} exited {result.returncode}:\n{result.stdout[-2000:]}{result.stderr[-4000:]}"
        )


def build_venv(image: str) -> Path:
    """The image's virtualenv (module docstring), built unless an identical one was built before."""
    if not UV.exists():
        pytest.fail(f"{UV.relative_to(REPO)} is missing; `make test` installs it (make .venv-xla/.installed)")
    lines = install_lines(image)
    key = hashlib.sha256(json.dumps([VENV_LAYOUT, sys.version, TORCH.version, lines]).encode()).hexdigest()[:16]
    venv = VENVS / f"{image}-{key}"
    VENVS.mkdir(parents=True, exist_ok=True)
    with FileLock(VENVS / f"{image}.lock"):  # pytest-xdist's workers share the directory
        if (venv / "built").exists():
            return venv
        for earlier in VENVS.glob(f"{image}-{'[0-9a-f]' * 16}"):
            shutil.rmtree(earlier)
        check_call([sys.executable, "-m", "venv", "--without-pip", str(venv)])
        python = str(venv / "bin" / "python")
        requirements = venv / "image-requirements.txt"
        requirements.write_text("".join(f"{line}\n" for line in lines))
        uv_options = ["--no-config", "--cache-dir", str(VENVS / "uv-cache"), "--python", python]
        check_call([str(UV), "pip", "install", *uv_options, "--requirement", str(requirements)])
        origin = Path(str(TORCH.locate_file("")))
        for top in sorted({file.parts[0] for file in TORCH.files or () if file.parts[0] != ".."}):
            (site_packages(venv) / top).symlink_to(origin / top)
        check_call([str(UV), "pip", "check", *uv_options])  # torch's requirements among them
        (venv / "built").touch()
    return venv


@pytest.fixture(scope="session")
def image_python() -> Callable[[str], str]:
    """The interpreter whose packages are the image's: its fresh virtualenv's, or `.venv-xla`'s."""
    pythons: dict[str, str] = {}

    def python(image: str) -> str:
        if image not in pythons:
            if image.endswith("-xla"):
                if not (XLA_VENV / "bin" / "python").exists():
                    pytest.fail(f"{XLA_VENV.name} is missing; `make test` builds it (make .venv-xla/.installed)")
                pythons[image] = str(XLA_VENV / "bin" / "python")
            else:
                pythons[image] = str(build_venv(image) / "bin" / "python")
        return pythons[image]

    return python


def image_environ() -> dict[str, str]:
    """This process's environment less what would put more than the tree and the virtualenv on the path, and less
    PYTHONDONTWRITEBYTECODE: uv installs no bytecode (compiling all would take about 25 s of CPU per virtualenv),
    so the modules a run imports are compiled once and cached in the virtualenv for the next run."""
    dropped = {"PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONSAFEPATH", "PYTHONUSERBASE", "VIRTUAL_ENV"}
    dropped.add("PYTHONDONTWRITEBYTECODE")
    return {name: value for name, value in os.environ.items() if name not in dropped}


def run_in_image(python: str, tree: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [python, "-s", *args], cwd=tree, env=image_environ(), capture_output=True, text=True, timeout=300, check=False
    )


@pytest.mark.parametrize("image", sorted(IMAGES))
def test_every_module_the_image_copies_imports_from_the_image_alone(image, image_python, tmp_path):
    _, packages = IMAGES[image]
    assemble(dockerfile_of(image), tmp_path)
    modules = sorted(
        ".".join(path.relative_to(tmp_path).with_suffix("").parts).removesuffix(".__init__")
        for package in packages
        for path in (tmp_path / package.replace(".", "/")).rglob("*.py")
        if path.name != "__main__.py"
    )
    assert modules, f"the {image} image copies no module of {packages}"
    result = run_in_image(
        image_python(image),
        tmp_path,
        "-c",
        "import importlib, os, sys\n"
        f"tree = {str(tmp_path)!r}\n"
        "inside = (tree + os.sep, sys.prefix + os.sep, sys.base_prefix + os.sep)\n"
        "others = [p for p in sys.path if os.path.abspath(p) != tree and not os.path.abspath(p).startswith(inside)]\n"
        "assert not others, f'on the path besides the tree and the interpreter: {others}'\n"
        f"for name in {modules!r}:\n"
        "    module = importlib.import_module(name)\n"
        "    assert os.path.abspath(module.__file__).startswith(tree + os.sep), module.__file__\n",
    )
    assert result.returncode == 0, result.stderr[-3000:]


@pytest.mark.parametrize("image", sorted(IMAGES))
def test_the_image_entry_point_starts_from_the_image_alone(image, image_python, tmp_path):
    entry, _ = IMAGES[image]
    assemble(dockerfile_of(image), tmp_path)
    result = run_in_image(image_python(image), tmp_path, *entry)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "usage:" in result.stdout


def test_the_filesystems_checked_are_those_of_every_object_store():
    assert set(FILESYSTEMS) == set(OBJECT_STORES)


@pytest.mark.parametrize("image", FRESH)
def test_the_image_opens_every_object_store(image, image_python, tmp_path):
    """The filesystem fsspec picks for each store imports (s3fs, gcsfs, adlfs and what they need at import)."""
    result = run_in_image(
        image_python(image),
        tmp_path,
        "-c",
        f"import fsspec\nfor protocol in {sorted(FILESYSTEMS.values())!r}:\n"
        "    fsspec.get_filesystem_class(protocol)\n",
    )
    assert result.returncode == 0, result.stderr[-3000:]


@pytest.mark.parametrize("image", FRESH)
def test_each_image_gets_the_torch_the_tests_link(image):
    assert torch_of_image(image) == Version(TORCH.version).public


def _is_json_object(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except json.JSONDecodeError:
        return False


class Server:
    """`python -m workloads.serving` (the image's ENTRYPOINT) in the image tree with the image's interpreter, on a
    free port, its stdout and stderr (JSON log lines, and -X importtime's lines) in a file."""

    def __init__(self, python: str, tree: Path, log: Path, *argv: str):
        self.log = log
        with log.open("w") as out:
            self.proc = subprocess.Popen(
                [python, "-s", "-X", "importtime", "-m", "workloads.serving", "--port", "0", *argv],
                cwd=tree,
                env=image_environ(),
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def lines(self) -> list[str]:
        return self.log.read_text(errors="replace").splitlines()

    def events(self) -> list[dict]:
        """The JSON log lines written so far (a line still being written is not one yet)."""
        events = []
        for line in self.lines():
            if line.startswith("{"):
                with contextlib.suppress(json.JSONDecodeError):
                    events.append(json.loads(line))
        return events

    def not_json(self) -> list[str]:
        """Lines that are neither JSON nor -X importtime's: a log pipeline could not parse them."""
        lines = [line for line in self.lines() if not line.startswith("import time:")]
        return [line for line in lines if not _is_json_object(line)]

    def imported(self) -> set[str]:
        """Every module the process imported (from -X importtime's `import time: self | cumulative | name`)."""
        return {line.rsplit("|", 1)[1].strip() for line in self.lines() if line.startswith("import time:")} - {
            "imported package"
        }

    def base_url(self) -> str:
        prefix = "Uvicorn running on "
        for _ in range(POLLS):
            if self.proc.poll() is not None:
                pytest.fail(f"the server exited with {self.proc.returncode}:\n{self.tail()}")
            started = next((e["message"] for e in self.events() if e["message"].startswith(prefix)), None)
            if started:
                return started.removeprefix(prefix).split()[0]
            time.sleep(0.05)
        pytest.fail(f"the server did not start:\n{self.tail()}")

    def tail(self) -> str:
        return "\n".join(line for line in self.lines() if not line.startswith("import time:"))[-4000:]

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=120)


@pytest.fixture
def server_in_image(image_python, tmp_path) -> Iterator[Callable[..., Server]]:
    servers: list[Server] = []
    tree = tmp_path / "app"
    assemble(dockerfile_of("serving"), tree)

    def start(*argv: str) -> Server:
        servers.append(Server(image_python("serving"), tree, tmp_path / f"server-{len(servers)}.log", *argv))
        return servers[-1]

    yield start
    for server in servers:
        if server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait()


def test_the_serving_image_answers_a_completion_on_a_model_in_each_object_store(remote_lake, server_in_image):
    url = f"{remote_lake.url}models/tiny/"
    torch.manual_seed(0)
    export_model(
        Transformer(RECIPES["tiny"]).eval(),
        RECIPES["tiny"],
        url,
        storage_options=storage_options(url, remote_lake.endpoint_url),
    )
    server = server_in_image("--model", url, "--endpoint-url", remote_lake.endpoint_url)
    with httpx.Client(base_url=server.base_url(), trust_env=False, timeout=60) as http:
        for _ in range(POLLS):
            if http.get("/readyz").status_code == 200:
                break
            assert http.get("/healthz").status_code == 200, server.tail()
            time.sleep(0.05)
        else:
            pytest.fail(f"/readyz never turned 200:\n{server.tail()}")
        answer = http.post("/v1/completions", json={"prompt": "Hello", "max_tokens": 4, "temperature": 0})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["model"] == "tiny"
        assert [type(choice["text"]) for choice in body["choices"]] == [str]
        assert 1 <= body["usage"]["completion_tokens"] <= 4
        assert "aiinfra_" in http.get("/metrics").text
    assert server.stop() == -signal.SIGTERM, server.tail()
    assert server.not_json() == []
    imported = server.imported()
    assert "workloads.serving.app" in imported
    assert sorted(m for m in imported if m in SERVER_MUST_NOT_IMPORT or m.startswith(NOT_IMPORTED_PACKAGES)) == []


def test_the_serving_image_carries_no_training_deploy_or_pulumi_code_or_packages(image_python, tmp_path):
    assemble(dockerfile_of("serving"), tmp_path)
    files = sorted(path.relative_to(tmp_path).as_posix() for path in tmp_path.rglob("*") if path.is_file())
    assert [f for f in files if not f.startswith(SERVING_TREE)] == []
    assert any(f.startswith("workloads/serving/") for f in files)

    venv = Path(image_python("serving")).parents[1]
    installed = {
        canonicalize_name(d.metadata["Name"]) for d in importlib.metadata.distributions(path=[str(site_packages(venv))])
    }
    assert "starlette" in installed
    unwanted = {name: NOT_FOR_SERVING[name] for name in installed & set(NOT_FOR_SERVING)}
    unwanted |= {name: "not a runtime package" for name in installed if name.startswith(NOT_FOR_SERVING_PREFIXES)}
    assert unwanted == {}
