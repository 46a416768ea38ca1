"""`aiinfra local up` / `local down` as a user runs them: real processes (a moto S3 server, torchrun with 2 ranks,
the model server), real HTTP, in a temporary project directory. Then the state they keep, without the whole loop:
the lake's snapshot (against moto's server in this process) and the lock, with stand-ins for the recorded
processes."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

from aiinfra.core.errors import InputError
from aiinfra.local_loop import (
    LAKE_CREDENTIALS,
    Paths,
    _command_line,
    _exclusive,
    _restore,
    _save,
    _spawn,
    complete,
    down,
    up,
)
from workloads.training.data import TINY_CORPUS
from workloads.training.xla import NO_TORCH_XLA

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
    saved = json.loads((state / "lake" / "index.json").read_text())["objects"]
    assert {o["key"] for o in saved} == keys, "down keeps the lake's objects"

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
    # The trainer refuses the XLA device without torch_xla: a real failure in the third step, after the lake.
    up = aiinfra(project, "up", "--steps", "2", env={"PJRT_DEVICE": "TPU"})
    assert up.returncode == 1
    assert "Traceback" not in up.stderr
    log = project.resolve() / ".aiinfra" / "local" / "logs" / "train.log"
    assert f"error: local up failed at step 'train': torchrun exited with 1; log: {log}" in up.stderr
    assert f"error: {NO_TORCH_XLA}" in log.read_text()
    lake_pid = int(re.search(r"^✓ lake .*\(pid (\d+)\)", up.stdout, re.MULTILINE).group(1))
    assert re.search(r"^✗ train\s+failed", up.stdout, re.MULTILINE)
    assert gone(lake_pid)
    assert not any((project / ".aiinfra" / "local").glob("*.json"))


# ---------------------------------------------------------------------------- the saved lake and the lock


@pytest.fixture
def lake(moto_s3) -> str:
    """The lake's API (moto's S3 server in this process), without its process."""
    return moto_s3


@pytest.fixture
def stand_in(project) -> Iterator[Callable[..., subprocess.Popen]]:
    """`stand_in(name, **fields)` starts a process that only waits, recorded as `up` records `name` (with
    `fields`), so that `down` finds it running; what is left of them is killed after the test."""
    paths = Paths.of(project)
    started: list[subprocess.Popen] = []

    def start(name: str, **fields) -> subprocess.Popen:
        paths.logs.mkdir(parents=True, exist_ok=True)
        argv = [sys.executable, "-c", "import time; time.sleep(3600)", name]
        proc = _spawn(paths, name, argv, dict(os.environ), dict(fields))
        started.append(proc)
        threading.Thread(target=proc.wait, daemon=True).start()  # reaps it once stopped, as init reaps a lake
        while _command_line(proc.pid) != " ".join(argv):  # until it has exec'd: `down` checks the command line
            assert not gone(proc.pid), f"the stand-in for {name} exited"
            time.sleep(0.01)
        return proc

    yield start
    for proc in started:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)


def bucket_with(endpoint: str, objects: dict[str, bytes]) -> str:
    """A new bucket (its name unique: moto's servers in one process share their buckets) holding `objects`."""
    bucket = f"lake-{uuid.uuid4().hex[:12]}"
    s3 = boto3.client("s3", endpoint_url=endpoint)
    s3.create_bucket(Bucket=bucket)
    for key, body in objects.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    return bucket


def contents(endpoint: str, bucket: str) -> dict[str, bytes]:
    s3 = boto3.client("s3", endpoint_url=endpoint)
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    keys = [o["Key"] for page in pages for o in page.get("Contents", [])]
    return {key: s3.get_object(Bucket=bucket, Key=key)["Body"].read() for key in keys}


def files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def odd_objects(tmp_path: Path) -> dict[str, bytes]:
    """Keys that are no relative paths: absolute (under tmp_path, so that an escape shows), climbing out with
    `..`, a folder marker beside a key under it, odd characters, the longest key S3 allows."""
    keys = [f"{tmp_path}/abs/x", "a/../../escape", "..", "models/local/x", "sp ace/ü.bin", "a//b", "%41", "k" * 1024]
    return {"models/": b"", **{key: f"<{key}>".encode() for key in keys}}


def test_every_key_round_trips_through_the_snapshot_and_nothing_is_written_outside_it(lake, tmp_path):
    objects = odd_objects(tmp_path)
    snapshot = tmp_path / "local" / "lake"
    snapshot.parent.mkdir()
    assert _save(snapshot, lake, bucket_with(lake, objects)) == len(objects)
    assert [p for p in tmp_path.rglob("*") if snapshot not in (p, *p.parents)] == [snapshot.parent]

    restored = bucket_with(lake, {})
    assert _restore(snapshot, lake, restored) == len(objects)
    assert contents(lake, restored) == objects


def test_an_older_snapshot_is_restored_and_the_next_save_replaces_it(lake, tmp_path):
    snapshot = tmp_path / "lake"  # the layout before index.json: each key a path under the snapshot
    (snapshot / "models" / "local").mkdir(parents=True)
    (snapshot / "models" / "local" / "config.json").write_bytes(b"{}")
    (snapshot / "index.json").write_bytes(b"an object of that name, not an index")
    bucket = bucket_with(lake, {})
    assert _restore(snapshot, lake, bucket) == 2
    assert contents(lake, bucket) == {
        "index.json": b"an object of that name, not an index",
        "models/local/config.json": b"{}",
    }

    boto3.client("s3", endpoint_url=lake).put_object(Bucket=bucket, Key="models/", Body=b"")
    assert _save(snapshot, lake, bucket) == 3
    assert not (snapshot / "models").exists()
    again = bucket_with(lake, {})
    _restore(snapshot, lake, again)
    assert contents(lake, again) == contents(lake, bucket)


def test_a_save_that_fails_leaves_the_previous_snapshot_as_it_was(lake, tmp_path):
    snapshot = tmp_path / "local" / "lake"
    snapshot.parent.mkdir()
    objects = odd_objects(tmp_path)
    _save(snapshot, lake, bucket_with(lake, objects))
    before = files(tmp_path)
    with pytest.raises(ClientError, match="NoSuchBucket"):
        _save(snapshot, lake, "no-such-bucket")
    assert files(tmp_path) == before
    assert [p.name for p in snapshot.parent.iterdir()] == ["lake"], "no partial snapshot is left"
    restored = bucket_with(lake, {})
    _restore(snapshot, lake, restored)
    assert contents(lake, restored) == objects

    not_a_directory = tmp_path / "file"
    not_a_directory.write_bytes(b"")
    with pytest.raises(OSError):
        _save(not_a_directory / "lake", lake, restored)
    assert files(tmp_path) == {**before, "file": b""}


def test_down_saves_every_object_of_the_lake_then_stops_it(project, lake, stand_in):
    objects = odd_objects(project)
    process = stand_in("lake", endpoint=lake, bucket=bucket_with(lake, objects), port=0)
    stopped = aiinfra(project, "down")
    assert stopped.returncode == 0, stopped.stderr
    assert f"saved {len(objects)} lake objects to " in stopped.stdout
    assert gone(process.pid)
    restored = bucket_with(lake, {})
    assert _restore(Paths.of(project).snapshot, lake, restored) == len(objects)
    assert contents(lake, restored) == objects


def test_down_that_cannot_save_the_lake_stops_nothing_and_says_why(project, lake, stand_in):
    # The lake answers, but its bucket is gone (say, deleted by hand): saving fails, so moto's memory must live.
    lake_process = stand_in("lake", endpoint=lake, bucket="no-such-bucket", port=0)
    server = stand_in("server", url="http://127.0.0.1:9", port=9)
    state = Paths.of(project).root
    before = files(state)
    stopped = aiinfra(project, "down")
    assert stopped.returncode == 1
    assert stopped.stderr.startswith("error: could not save the lake's objects to ")
    assert "NoSuchBucket" in stopped.stderr
    assert f"stopped nothing, so none is lost: the lake still runs at {lake} (pid {lake_process.pid})" in stopped.stderr
    assert "Traceback" not in stopped.stderr
    assert not gone(lake_process.pid) and not gone(server.pid)
    assert {name: body for name, body in files(state).items() if name != "lock"} == before, "records kept"

    # The way out it names: --purge stops everything without saving.
    purged = aiinfra(project, "down", "--purge")
    assert purged.returncode == 0, purged.stderr
    assert gone(lake_process.pid) and gone(server.pid)
    assert not state.exists()


@pytest.mark.parametrize("command", ["up", "down"])
def test_while_an_up_runs_another_up_or_down_exits_2_and_touches_nothing(project, stand_in, command):
    # Mid-training: the lake is recorded, up.json is not written yet.
    lake_process = stand_in("lake", endpoint="http://127.0.0.1:9", bucket="lake", port=9)
    paths = Paths.of(project)
    with _exclusive(paths, "up"):
        before = files(paths.root)
        second = aiinfra(project, command)
        after = files(paths.root)
    assert second.returncode == 2
    assert second.stderr.splitlines() == [
        f"error: another `aiinfra local up` (pid {os.getpid()}) is running; wait for it or stop it"
    ]
    assert second.stdout == ""
    assert after == before
    assert not gone(lake_process.pid)


HOLD_THE_LOCK = """
import sys, time
from pathlib import Path
from aiinfra.local_loop import Paths, _exclusive
with _exclusive(Paths(Path(sys.argv[1])), "up"):
    print("held", flush=True)
    time.sleep(3600)
"""


def test_the_lock_goes_with_its_holder_however_that_ends(project):
    paths = Paths.of(project)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_THE_LOCK, str(paths.root)], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline() == "held\n"
        busy = re.escape(f"another `aiinfra local up` (pid {holder.pid}) is running")
        with pytest.raises(InputError, match=busy), _exclusive(paths, "down"):
            pass
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
    assert paths.lock.exists()
    with _exclusive(paths, "down"):  # killed: its lock file is left, its lock is not
        pass

    # In this process: `down` returns, `up` raises (a bad flag, found once it holds the lock); both let go.
    assert down(argparse.Namespace(cwd=project, grace_s=1.0, purge=False)) == 0
    with pytest.raises(InputError, match="--steps"):
        up(argparse.Namespace(cwd=project, steps=0, port=None, lake_port=None, prompt="x"))
    with _exclusive(paths, "up"):
        pass
