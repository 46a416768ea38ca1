"""`aiinfra local up` / `local down` as a user runs them: real processes (a moto S3 server, torchrun with 2 ranks,
the model server), real HTTP, in a temporary project directory."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import boto3
import pytest

from aiinfra.local_loop import LAKE_CREDENTIALS, complete
from workloads.training.data import TINY_CORPUS

REPO = Path(__file__).resolve().parents[2]


def aiinfra(project: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "aiinfra.cli", "-C", str(project), "local", *args],
        cwd=REPO,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def gone(pid: int) -> bool:
    """No such process, or only its zombie (its parent, `up`, has exited; init reaps it)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] == "Z"


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


@pytest.fixture
def project(tmp_path: Path) -> Path:
    yield tmp_path
    aiinfra(tmp_path, "down")  # whatever a failed assertion left running


def test_up_trains_serves_and_answers_then_down_stops_everything(project, monkeypatch):
    up = aiinfra(project, "up", "--steps", "10")
    assert up.returncode == 0, up.stderr
    state = project / ".aiinfra" / "local"
    summary = json.loads((state / "up.json").read_text())
    records = {name: json.loads((state / f"{name}.json").read_text()) for name in ("lake", "server")}
    endpoint, server = summary["lake"]["endpoint"], summary["server"]

    # What it printed is what the server answers (greedy), and where it says things are, they are.
    printed = re.search(r"^completion\s+(.*)$", up.stdout, re.MULTILINE).group(1)
    assert printed == repr(complete(server, "The keeper")) == repr(summary["sample"]["completion"])
    assert summary["model"] == "s3://lake/models/local/" and f"curl -s {server}/v1/completions" in up.stdout
    for step in ("lake", "dataset", "train", "export", "serve", "sample"):
        assert re.search(rf"^✓ {step} .*\(\d+\.\ds\)$", up.stdout, re.MULTILINE), step
    assert "stop with: aiinfra local down" in up.stdout

    for key, value in LAKE_CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    s3 = boto3.client("s3", endpoint_url=endpoint)
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket="lake")["Contents"]}
    assert {"models/local/model.safetensors", "models/local/config.json"} <= keys
    assert "curated/datasets/tiny-corpus/index.json" in keys
    raw = s3.get_object(Bucket="lake", Key="raw/datasets/tiny-corpus/tiny_corpus.txt")["Body"].read()
    assert raw == TINY_CORPUS.read_bytes()

    again = aiinfra(project, "up")
    assert again.returncode == 0 and again.stdout.startswith("✓ already up")
    assert f"completion  {printed}" in again.stdout
    assert json.loads((state / "server.json").read_text())["pid"] == records["server"]["pid"]

    down = aiinfra(project, "down")
    assert down.returncode == 0, down.stderr
    assert all(gone(r["pid"]) for r in records.values())
    assert not answers(server) and not answers(endpoint)
    assert not any(state.glob("*.json"))
    assert (state / "lake" / "models" / "local" / "model.safetensors").is_file(), "down keeps the lake's objects"

    twice = aiinfra(project, "down")
    assert twice.returncode == 0 and twice.stdout.startswith("nothing is running")


def test_a_busy_port_is_refused_before_anything_starts(project):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        up = aiinfra(project, "up", "--port", str(port))
    assert up.returncode == 2
    assert up.stderr.splitlines() == [
        f"error: --port: {port} is in use on 127.0.0.1; choose another, or leave --port out for a free one"
    ]
    assert not (project / ".aiinfra").exists()


def test_a_failing_step_names_itself_and_its_log_and_stops_what_it_started(project):
    # The trainer refuses to run on TPU without torch_xla: a real failure in the third step, after the lake.
    up = aiinfra(project, "up", "--steps", "2", env={"PJRT_DEVICE": "TPU"})
    assert up.returncode == 1
    assert "Traceback" not in up.stderr
    log = project.resolve() / ".aiinfra" / "local" / "logs" / "train.log"
    assert f"error: local up failed at step 'train': torchrun exited with 1; log: {log}" in up.stderr
    assert "no XLA path" in log.read_text()
    lake_pid = int(re.search(r"^✓ lake .*\(pid (\d+)\)", up.stdout, re.MULTILINE).group(1))
    assert re.search(r"^✗ train\s+failed", up.stdout, re.MULTILINE)
    assert gone(lake_pid)
    assert not any((project / ".aiinfra" / "local").glob("*.json"))
