"""The images carry every module their code imports: each Dockerfile's COPY lines, replayed into an empty
directory, give a tree whose packages import and whose entry point starts, with nothing else of the repository
on the path (the interpreter runs without `site`, so the editable install of aiinfra is not visible). The XLA
training image is replayed with the interpreter and packages of `.venv-xla`, built from the same lock."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
IMAGES = {
    "training": (["-m", "workloads.training.train", "--help"], ["workloads.shared", "workloads.training"]),
    "training-xla": (["-m", "workloads.training.train", "--help"], ["workloads.shared", "workloads.training"]),
    "serving": (["-m", "workloads.serving", "--help"], ["workloads.shared", "workloads.serving"]),
}
XLA_PYTHON = REPO / ".venv-xla" / "bin" / "python"


def dockerfile_of(image: str) -> Path:
    """workloads/<image>/Dockerfile; `<image>-xla` is workloads/<image>/Dockerfile.xla."""
    base, _, variant = image.partition("-")
    return REPO / "workloads" / base / ("Dockerfile" + (f".{variant}" if variant else ""))


def python_of(image: str) -> tuple[str, str]:
    """The interpreter whose installed packages stand in for the image's, and their directory."""
    if not image.endswith("-xla"):
        return sys.executable, sysconfig.get_paths()["purelib"]
    if not XLA_PYTHON.exists():
        pytest.fail(f"{XLA_PYTHON.relative_to(REPO)} is missing; `make test` builds it (make .venv-xla/.installed)")
    purelib = subprocess.run(
        [str(XLA_PYTHON), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return str(XLA_PYTHON), purelib


def copy_instructions(dockerfile: Path) -> list[tuple[list[str], str]]:
    """(sources, destination) of each COPY of build-context files, continuation lines joined."""
    text = dockerfile.read_text().replace("\\\n", " ")
    copies = []
    for line in text.splitlines():
        words = shlex.split(line, comments=True)
        if not words or words[0].upper() != "COPY":
            continue
        args = [w for w in words[1:] if not w.startswith("--")]
        copies.append((args[:-1], args[-1]))
    return copies


def assemble(dockerfile: Path, root: Path) -> None:
    """Lay out the image's WORKDIR as its COPY lines do; copies to absolute paths (build inputs) are skipped."""
    for sources, destination in copy_instructions(dockerfile):
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


def run_isolated(root: Path, code: str, image: str) -> subprocess.CompletedProcess:
    """Run `code` in a Python with only the image tree and the installed third-party packages on its path."""
    python, purelib = python_of(image)
    prelude = f"import sys\nsys.path[:0] = [{str(root)!r}]\nsys.path.append({purelib!r})\n"
    return subprocess.run(
        [python, "-S", "-c", prelude + code], cwd=root, capture_output=True, text=True, timeout=300, check=False
    )


@pytest.mark.parametrize("image", sorted(IMAGES))
def test_every_module_the_image_copies_imports_from_the_image_alone(image, tmp_path):
    _, packages = IMAGES[image]
    assemble(dockerfile_of(image), tmp_path)
    modules = sorted(
        ".".join(path.relative_to(tmp_path).with_suffix("").parts).removesuffix(".__init__")
        for package in packages
        for path in (tmp_path / package.replace(".", "/")).rglob("*.py")
        if path.name != "__main__.py"
    )
    assert modules, f"the {image} image copies no module of {packages}"
    result = run_isolated(
        tmp_path,
        "import importlib\n"
        f"for name in {modules!r}:\n"
        "    module = importlib.import_module(name)\n"
        f"    assert module.__file__.startswith({str(tmp_path)!r}), module.__file__\n",
        image,
    )
    assert result.returncode == 0, result.stderr[-3000:]


@pytest.mark.parametrize("image", sorted(IMAGES))
def test_the_image_entry_point_starts_from_the_image_alone(image, tmp_path):
    entry, _ = IMAGES[image]
    assemble(dockerfile_of(image), tmp_path)
    module, *argv = entry[1:]
    result = run_isolated(
        tmp_path,
        f"import runpy\nsys.argv = [{module!r}, *{argv!r}]\n"
        f"runpy.run_module({module!r}, run_name='__main__', alter_sys=True)\n",
        image,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "usage:" in result.stdout
