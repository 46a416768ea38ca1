"""`aiinfra local up` / `aiinfra local down`: the whole loop on this machine.

`up` starts a moto S3 server as the lake, puts the shipped corpus in its raw zone and the token shards in
curated/, trains the tiny recipe with torchrun (2 ranks, the `local train` code path), which exports to
models/<run>/, starts the model server (the `local serve` entrypoint) on that export, and asks it for a
completion. The lake and the server run detached; `up` records each in `.aiinfra/local/<name>.json` (pid,
command line, port), its logs in `.aiinfra/local/logs/`. `down` stops them by those records, after checking
that each pid still runs the command it was started with. moto keeps objects in memory only, so `down` first
saves the bucket to `.aiinfra/local/lake/` (stopping nothing when it cannot), and the next `up` puts it back
(`--purge` discards it instead). One `up` or `down` at a time: each holds `.aiinfra/local/lock` while it runs.

Module level is stdlib only: the CLI builds its parser from here on every call, `--help` included.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

from aiinfra.core.errors import InputError, Problem

BUCKET = "lake"
RUN = "local"
NPROC = 2
DEFAULT_STEPS = 800
"""About 20 s of training on 2 CPU cores: enough for the greedy sample to be English words (at 200 steps it
is still `the the the`)."""
DEFAULT_PROMPT = "The keeper"
SAMPLE_MAX_TOKENS = 32
RAW_PREFIX = "raw/datasets/tiny-corpus/"
CURATED_PREFIX = "curated/datasets/tiny-corpus/"
MODEL_PREFIX = f"models/{RUN}/"
LAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "aiinfra-local",
    "AWS_SECRET_ACCESS_KEY": "aiinfra-local",
    "AWS_DEFAULT_REGION": "us-east-1",
}
"""moto accepts any keys; these keep real AWS credentials (and profiles) out of every lake client."""
LAKE_START_TIMEOUT_S = 60.0
SERVER_READY_TIMEOUT_S = 180.0
PROCESSES = ("server", "lake")
"""What `up` leaves running, in the order `down` stops them (the server reads the lake)."""


def add_up_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--steps", type=int, default=DEFAULT_STEPS, help="training steps of the tiny recipe (default: %(default)s)"
    )
    parser.add_argument("--port", type=int, help="the model server's port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--lake-port", type=int, help="the S3 lake's port on 127.0.0.1 (default: a free one)")
    parser.add_argument(
        "--prompt", default=DEFAULT_PROMPT, help="the sample completion's prompt (default: %(default)r)"
    )


def add_down_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--purge", action="store_true", help="also delete the saved lake objects and the logs (.aiinfra/local/)"
    )
    parser.add_argument(
        "--grace-s",
        type=float,
        default=10.0,
        help="how long each process may take to exit after SIGTERM before it gets SIGKILL (default: %(default)s)",
    )


@dataclass(frozen=True)
class Paths:
    """Where `up` keeps its state, under the project (`aiinfra -C DIR`)."""

    root: Path

    @classmethod
    def of(cls, project: Path) -> Paths:
        return cls(project.resolve() / ".aiinfra" / "local")

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def snapshot(self) -> Path:
        """The lake's objects between `down` and the next `up`: an index of their keys and one file each."""
        return self.root / "lake"

    @property
    def lock(self) -> Path:
        """Held (flock) by the `up` or `down` that runs; its pid and command are written in it."""
        return self.root / "lock"

    @property
    def summary(self) -> Path:
        return self.root / "up.json"

    def record(self, name: str) -> Path:
        return self.root / f"{name}.json"

    def log(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    def display(self, path: Path) -> str:
        """`path` relative to the working directory when it lies under it (shorter to read and to paste)."""
        with contextlib.suppress(ValueError):
            return str(path.relative_to(Path.cwd()))
        return str(path)


class StepFailed(Exception):
    """A step of `up` failed at run time; `log` says where to look. `Loop.step` fills in the step and the log."""

    def __init__(self, message: str, log: Path | None = None):
        super().__init__(message)
        self.log = log
        self.step = ""


# ---------------------------------------------------------------------------------------------- processes


def _command_line(pid: int) -> str | None:
    """The command line `pid` runs, arguments joined by spaces; None when it is gone (or a zombie)."""
    proc = Path("/proc") / str(pid) / "cmdline"
    if Path("/proc/self/cmdline").exists():
        try:
            return proc.read_bytes().rstrip(b"\0").replace(b"\0", b" ").decode(errors="replace") or None
        except OSError:
            return None
    result = subprocess.run(["ps", "-o", "command=", "-p", str(pid)], capture_output=True, text=True, check=False)
    return result.stdout.strip() or None


def _alive(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError):  # reap it if it is our own child and has exited
        os.waitpid(pid, os.WNOHANG)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, and someone else's
        pass
    return True


def _running(record: dict[str, Any]) -> bool:
    """Whether the recorded process still runs, as the very command `up` started (not a reused pid). Not for
    a process just started: while it execs, its command line reads empty for a moment."""
    return _alive(record["pid"]) and _command_line(record["pid"]) == " ".join(record["argv"])


def _stop(record: dict[str, Any], grace_s: float) -> bool:
    """Stop the recorded process; False when it was not running (or the pid now runs something else)."""
    if not _running(record):
        return False
    _stop_group(record["pid"], grace_s)
    return True


def _stop_group(pid: int, grace_s: float) -> None:
    """SIGTERM the process group of `pid` (a session leader: the process and its children), SIGKILL after
    `grace_s`; return once the leader is gone."""
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 10.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, sig)
        deadline = time.monotonic() + wait_s
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if not _alive(pid):
            return


def _spawn(paths: Paths, name: str, argv: list[str], env: dict[str, str], record: dict[str, Any]) -> subprocess.Popen:
    """Start `argv` detached (a session of its own, output to its log) and write its record: `record` plus
    pid, command line and log."""
    with paths.log(name).open("ab") as log:
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    record.update(pid=proc.pid, argv=argv, log=str(paths.log(name)))
    paths.record(name).write_text(json.dumps(record, indent=2))
    return proc


def _read_record(paths: Paths, name: str) -> dict[str, Any] | None:
    try:
        return json.loads(paths.record(name).read_text())
    except FileNotFoundError:
        return None
    except (json.JSONDecodeError, OSError) as err:
        raise InputError(
            Problem(str(paths.record(name)), f"unreadable ({err}); stop its process by hand, then delete the file")
        ) from err


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _port_problem(flag: str, port: int | None) -> Problem | None:
    if port is None:
        return None
    if not 1 <= port <= 65535:
        return Problem(flag, f"{port} — choose a port from 1 to 65535, or leave {flag} out for a free one")
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return Problem(flag, f"{port} is in use on 127.0.0.1; choose another, or leave {flag} out for a free one")
    return None


@contextlib.contextmanager
def _lake_credentials() -> Iterator[None]:
    """LAKE_CREDENTIALS in this process's environment (the children inherit it), restored afterwards."""
    saved = {key: os.environ.get(key) for key in [*LAKE_CREDENTIALS, "AWS_PROFILE"]}
    os.environ.pop("AWS_PROFILE", None)
    os.environ.update(LAKE_CREDENTIALS)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextlib.contextmanager
def _exclusive(paths: Paths, command: str) -> Iterator[None]:
    """Hold `paths.lock` for a whole `up` or `down` (`command`); another one meanwhile raises InputError (exit 2)
    before it reads or changes anything. The kernel drops an flock when its holder exits, however it exits, so
    the file a killed `up` leaves behind blocks no one; what `up` starts does not inherit it (Python opens file
    descriptors non-inheritable)."""
    paths.root.mkdir(parents=True, exist_ok=True)
    fd = os.open(paths.lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid, _, holder = os.pread(fd, 100, 0).decode(errors="replace").strip().partition(" ")
            who = "`aiinfra local up` or `down`"  # the holder has not written itself in yet
            if pid.isdigit() and holder:
                who = f"`aiinfra local {holder}` (pid {pid})"
            raise InputError(f"another {who} is running; wait for it or stop it") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {command}\n".encode(), 0)
        yield
    finally:
        os.close(fd)


def _s3(endpoint: str):
    import boto3

    return boto3.client("s3", endpoint_url=endpoint)


# ---------------------------------------------------------------------------------------------- up


class Loop:
    """One `up`: runs the steps, prints a line per step, and remembers what it started to stop it on failure."""

    def __init__(self, paths: Paths, console):
        self.paths = paths
        self.console = console
        self.started: list[subprocess.Popen] = []

    def step(self, label: str, log: Path, action: Callable[[], str]) -> None:
        """Run one step; print a tick, its outcome and its time. Failures become StepFailed naming the log."""
        started = time.perf_counter()
        try:
            outcome = action()
        except InputError:
            raise
        except Exception as err:
            failed = err if isinstance(err, StepFailed) else StepFailed(f"{type(err).__name__}: {err}")
            failed.step, failed.log = label, failed.log or log
            self.console.print(f"[red]✗[/] {label:<9} failed [dim]({time.perf_counter() - started:.1f}s)[/]")
            raise failed from err
        self.console.print(f"[green]✓[/] {label:<9} {outcome} [dim]({time.perf_counter() - started:.1f}s)[/]")

    def spawn(self, name: str, argv: list[str], record: dict[str, Any]) -> subprocess.Popen:
        from workloads.training.local import child_env

        proc = _spawn(self.paths, name, argv, child_env(), record)
        self.started.append(proc)
        return proc

    def stop_started(self) -> None:
        for proc in reversed(self.started):
            if proc.poll() is None:
                _stop_group(proc.pid, grace_s=5.0)
        for name in PROCESSES:
            self.paths.record(name).unlink(missing_ok=True)
        self.paths.summary.unlink(missing_ok=True)


def up(args: argparse.Namespace) -> int:
    """`aiinfra local up`: exit 0 when the loop is up (or already was), 1 when a step failed at run time; bad
    flags, and another `up` or `down` still running, raise InputError (exit 2) before anything starts."""
    from rich.console import Console

    paths = Paths.of(getattr(args, "cwd", Path(".")))
    console = Console(highlight=False, soft_wrap=True)
    if not paths.root.is_dir():
        _check_up_flags(args)  # nothing was ever up here: refuse bad flags before writing the lock, or anything
    with _exclusive(paths, "up"):
        previous = _previous_up(paths, console)
        if previous is not None:
            return previous
        _check_up_flags(args)
        return _run_up(paths, console, args)


def _check_up_flags(args: argparse.Namespace) -> None:
    problems = [p for p in (_port_problem("--port", args.port), _port_problem("--lake-port", args.lake_port)) if p]
    if args.port is not None and args.port == args.lake_port:
        problems.append(Problem("--lake-port", f"{args.lake_port} is also --port; give the lake another port"))
    if args.steps < 1:
        problems.append(Problem("--steps", f"{args.steps} — use 1 or more"))
    if not args.prompt:
        problems.append(Problem("--prompt", "must not be empty"))
    if problems:
        raise InputError(problems)


def _run_up(paths: Paths, console, args: argparse.Namespace) -> int:
    loop = Loop(paths, console)
    try:
        with _lake_credentials():
            summary = _up(loop, args)
    except StepFailed as err:
        loop.stop_started()
        log = paths.display(err.log) if err.log else "(none)"
        print(f"error: local up failed at step {err.step!r}: {err}; log: {log}", file=sys.stderr)
        print("stopped what this run had started", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        loop.stop_started()
        print("interrupted; stopped what this run had started", file=sys.stderr)
        return 130
    except BaseException:  # bad input found on the way: leave nothing running either
        loop.stop_started()
        raise
    paths.summary.write_text(json.dumps(summary, indent=2))
    _print_summary(console, paths, summary)
    return 0


def _previous_up(paths: Paths, console) -> int | None:
    """What a previous `up` (one that is over: the caller holds the lock) leaves this one to do: exit 0 (after
    printing its summary) when it still runs whole; stop what is left of a partial one and go on (None), or
    exit 1 when that cannot be done without losing the lake's objects."""
    records = {name: _read_record(paths, name) for name in PROCESSES}
    if not any(records.values()):
        return None
    if all(r and _running(r) for r in records.values()) and paths.summary.exists():
        console.print("[green]✓[/] already up (stop with: aiinfra local down)")
        _print_summary(console, paths, json.loads(paths.summary.read_text()))
        return 0
    console.print("[yellow]![/] a previous `local up` is only partly running; stopping what is left of it")
    return None if _take_down(paths, records, grace_s=5.0) else 1


def _take_down(paths: Paths, records: dict[str, dict[str, Any] | None], grace_s: float, save: bool = True) -> bool:
    """Save the lake's objects (unless not `save`), then stop the recorded processes and remove the state files.
    When the objects cannot be saved, stop nothing (moto holds them in memory only), say so, and return False."""
    lake = records.get("lake")
    if save and lake is not None and _running(lake):
        try:
            with _lake_credentials():
                saved = _save(paths.snapshot, lake["endpoint"], lake["bucket"])
        except Exception as err:  # botocore or disk
            print(
                f"error: could not save the lake's objects to {paths.display(paths.snapshot)}/ "
                f"({type(err).__name__}: {err}); stopped nothing, so none is lost: the lake still runs at "
                f"{lake['endpoint']} (pid {lake['pid']}). Fix that and run `aiinfra local down` again, or "
                "`aiinfra local down --purge` to stop everything and discard the lake's objects",
                file=sys.stderr,
            )
            return False
        print(f"saved {saved} lake objects to {paths.display(paths.snapshot)}/ (the next `up` restores them)")
    for name, record in records.items():
        if record is None:
            continue
        if _stop(record, grace_s):
            print(f"stopped {name} (pid {record['pid']})")
        else:
            print(f"{name} (pid {record['pid']}) was not running any more")
        paths.record(name).unlink(missing_ok=True)
    paths.summary.unlink(missing_ok=True)
    return True


def _up(loop: Loop, args: argparse.Namespace) -> dict[str, Any]:
    paths = loop.paths
    paths.logs.mkdir(parents=True, exist_ok=True)
    lake_port = args.lake_port or _free_port()
    endpoint = f"http://127.0.0.1:{lake_port}"
    lake_url = f"s3://{BUCKET}/"

    def start_lake() -> str:
        argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(lake_port)]
        record = {"port": lake_port, "endpoint": endpoint, "bucket": BUCKET}
        proc = loop.spawn("lake", argv, record)
        _wait_for(lambda: _answers(endpoint), proc, record, LAKE_START_TIMEOUT_S, f"no S3 answer on {endpoint}")
        _s3(endpoint).create_bucket(Bucket=BUCKET)
        restored = _restore(paths.snapshot, endpoint)
        kept = f", {restored} objects restored from {paths.display(paths.snapshot)}" if restored else ""
        return f"moto S3 at {endpoint}, bucket {BUCKET} (pid {record['pid']}){kept}"

    loop.step("lake", paths.log("lake"), start_lake)
    loop.step("dataset", paths.log("lake"), lambda: _upload_dataset(endpoint))
    loop.step("train", paths.log("train"), lambda: _train(loop, args.steps, endpoint))
    loop.step("export", paths.log("train"), lambda: _check_export(endpoint))

    server_port = args.port or _free_port()
    server_url = f"http://127.0.0.1:{server_port}"
    model_url = f"{lake_url}{MODEL_PREFIX}"

    def start_server() -> str:
        argv = [
            sys.executable, "-m", "workloads.serving",
            "--model", model_url, "--endpoint-url", endpoint, "--port", str(server_port),
        ]  # fmt: skip
        record = {"port": server_port, "url": server_url}
        proc = loop.spawn("server", argv, record)
        _wait_for(lambda: _ready(server_url), proc, record, SERVER_READY_TIMEOUT_S, f"{server_url}/readyz not 200")
        return f"{server_url} ready (pid {record['pid']})"

    loop.step("serve", paths.log("server"), start_server)
    sample: dict[str, str] = {}

    def ask() -> str:
        sample["completion"] = complete(server_url, args.prompt)
        return "POST /v1/completions answered"

    loop.step("sample", paths.log("server"), ask)
    return {
        "lake": {
            "endpoint": endpoint,
            "bucket": BUCKET,
            "prefixes": {"raw": RAW_PREFIX, "curated": CURATED_PREFIX, "models": MODEL_PREFIX},
        },
        "model": model_url,
        "server": server_url,
        "logs": str(paths.logs),
        "sample": {"prompt": args.prompt, "completion": sample["completion"]},
    }


def _wait_for(
    ready: Callable[[], bool], proc: subprocess.Popen, record: dict[str, Any], timeout_s: float, what: str
) -> None:
    """Poll `ready` until it holds; fail when the process exits or `timeout_s` passes."""
    deadline = time.monotonic() + timeout_s
    while not ready():
        if proc.poll() is not None:
            raise StepFailed(f"{what}: the process (pid {proc.pid}) exited with {proc.returncode}", Path(record["log"]))
        if time.monotonic() > deadline:
            raise StepFailed(f"{what} within {timeout_s:.0f}s", Path(record["log"]))
        time.sleep(0.2)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except urllib.error.HTTPError:
        return True  # an HTTP answer of any status: the server is up
    except OSError:
        return False


def _ready(server_url: str) -> bool:
    """The server's readiness probe; a model that failed to load ends the wait at once."""
    try:
        with urllib.request.urlopen(f"{server_url}/readyz", timeout=2) as response:
            return response.status == 200
    except urllib.error.HTTPError as err:
        body = json.loads(err.read() or b"{}")
        if body.get("status") == "failed":
            raise StepFailed(f"the server could not load the model ({server_url}/healthz says why)") from err
        return False
    except OSError:
        return False


def complete(server_url: str, prompt: str) -> str:
    """The server's greedy completion of `prompt`."""
    body = json.dumps({"prompt": prompt, "max_tokens": SAMPLE_MAX_TOKENS, "temperature": 0}).encode()
    request = urllib.request.Request(
        f"{server_url}/v1/completions", data=body, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())["choices"][0]["text"]
    except urllib.error.HTTPError as err:
        message = json.loads(err.read() or b"{}").get("error", {}).get("message", err.reason)
        raise StepFailed(f"the server answered {err.code}: {message}") from err


def _upload_dataset(endpoint: str) -> str:
    """The shipped corpus, as is, into the raw zone; its token shards, made from the raw object, into curated/."""
    from workloads.shared.lake_url import storage_options
    from workloads.training.data import TINY_CORPUS, paragraphs, prepare

    s3 = _s3(endpoint)
    raw_key = f"{RAW_PREFIX}{TINY_CORPUS.name}"
    s3.upload_file(str(TINY_CORPUS), BUCKET, raw_key)
    text = s3.get_object(Bucket=BUCKET, Key=raw_key)["Body"].read().decode("utf-8")
    curated = f"s3://{BUCKET}/{CURATED_PREFIX}"
    index = prepare(paragraphs(text), curated, storage_options=storage_options(curated, endpoint))
    tokens = sum(shard["tokens"] for shard in index["shards"])
    return f"s3://{BUCKET}/{raw_key} → {tokens} tokens in s3://{BUCKET}/{CURATED_PREFIX}"


def _train(loop: Loop, steps: int, endpoint: str) -> str:
    """`aiinfra local train` with NPROC ranks against the lake; its output goes to the log, and a few of its
    progress lines (every fifth of the run) to the terminal. No restarts: without checkpoints a restart would
    only train again from step 0, and a failure is better reported at once."""
    from workloads.training import local as local_training

    parser = argparse.ArgumentParser()
    local_training.add_arguments(parser)
    train_args = parser.parse_args(
        [
            "--nproc", str(NPROC), "--max-restarts", "0", "--steps", str(steps), "--run", RUN,
            "--lake", f"s3://{BUCKET}/", "--endpoint-url", endpoint, "--data", f"s3://{BUCKET}/{CURATED_PREFIX}",
        ]
    )  # fmt: skip
    command, env = local_training.torchrun_command(train_args)
    log_path = loop.paths.log("train")
    every = max(1, steps // 5)
    last: dict[str, Any] = {}
    with log_path.open("a", encoding="utf-8") as log:
        # Its own session: Ctrl-C reaches this process only, which then stops torchrun and its workers.
        proc = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=log, env=env, text=True, bufsize=1, start_new_session=True
        )
        try:
            for line in cast(IO[str], proc.stdout):  # stdout=PIPE: never None
                log.write(line)
                log.flush()
                progress = _json_line(line)
                if "step" in progress:
                    last = progress
                    if progress["step"] % every == 0:
                        loop.console.print(
                            f"  [dim]step {progress['step']:>5}/{steps}  loss {progress['loss']:.3f}  "
                            f"{progress['tokens_per_s']:,.0f} tok/s[/]"
                        )
            code = proc.wait()
        except BaseException:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait()
            raise
    if code != 0:
        raise StepFailed(f"torchrun exited with {code}", log_path)
    return f"{steps} steps on {NPROC} ranks (gloo, CPU), final loss {last.get('loss', float('nan')):.3f}"


def _json_line(line: str) -> dict[str, Any]:
    with contextlib.suppress(json.JSONDecodeError):
        value = json.loads(line)
        if isinstance(value, dict):
            return value
    return {}


def _check_export(endpoint: str) -> str:
    """The trainer exports at its end; this checks that the server will find a complete export."""
    from workloads.shared.export import CONFIG_FILE, WEIGHTS_FILE

    s3 = _s3(endpoint)
    sizes = {}
    for name in (WEIGHTS_FILE, CONFIG_FILE):
        try:
            sizes[name] = s3.head_object(Bucket=BUCKET, Key=f"{MODEL_PREFIX}{name}")["ContentLength"]
        except s3.exceptions.ClientError as err:
            raise StepFailed(f"s3://{BUCKET}/{MODEL_PREFIX}{name} is missing ({err})") from err
    return f"s3://{BUCKET}/{MODEL_PREFIX}: {WEIGHTS_FILE} ({sizes[WEIGHTS_FILE] / 1e6:.1f} MB), {CONFIG_FILE}"


SNAPSHOT_FORMAT = "aiinfra-local-lake/2"
"""`index.json` of a snapshot: every object's key and the file in `objects/` that holds it. Keys are not paths:
an S3 key may be absolute, hold `..`, end in `/` (a folder marker beside keys under it) or be 1024 bytes long."""
SNAPSHOT_INDEX = "index.json"
SNAPSHOT_OBJECTS = "objects"


def _restore(snapshot: Path, endpoint: str, bucket: str = BUCKET) -> int:
    """Put the objects a previous `down` saved back into the bucket; return how many."""
    _settle(snapshot)
    if not snapshot.is_dir():
        return 0
    s3 = _s3(endpoint)
    entries = _snapshot_index(snapshot)
    if entries is None:  # saved by an older aiinfra: one file per key, at the key as a relative path
        keys = [f.relative_to(snapshot).as_posix() for f in sorted(snapshot.rglob("*")) if f.is_file()]
        entries = [{"key": key, "file": key} for key in keys]
    for entry in entries:
        extra = {"ContentType": entry["content_type"], "Metadata": entry["metadata"]} if "metadata" in entry else {}
        s3.upload_file(str(snapshot / entry["file"]), bucket, entry["key"], ExtraArgs=extra)
    return len(entries)


def _snapshot_index(snapshot: Path) -> list[dict[str, Any]] | None:
    """The objects `index.json` lists, their files relative to the snapshot; None for the older layout."""
    try:
        index = json.loads((snapshot / SNAPSHOT_INDEX).read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    if not isinstance(index, dict) or index.get("format") != SNAPSHOT_FORMAT:
        return None  # an object that an older snapshot saved under the key `index.json`
    return index["objects"]


def _save(snapshot: Path, endpoint: str, bucket: str) -> int:
    """Every object of the bucket into `snapshot`, replacing it whole once all are written; return how many.
    Each object goes to a file whose name the index gives (a counter and the key, percent-encoded and cut
    short to be read), so nothing is written outside `snapshot`; a failure leaves the previous one as it was."""
    s3 = _s3(endpoint)
    _settle(snapshot)
    partial = snapshot.with_name(f"{snapshot.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)  # what a killed `down` left
    (partial / SNAPSHOT_OBJECTS).mkdir(parents=True)
    try:
        entries = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for obj in page.get("Contents", []):
                key = obj["Key"]
                name = f"{SNAPSHOT_OBJECTS}/{len(entries):06d}-{urllib.parse.quote(key, safe='')[:100]}"
                response = s3.get_object(Bucket=bucket, Key=key)
                with (partial / name).open("wb") as out:
                    shutil.copyfileobj(response["Body"], out)
                content_type = response.get("ContentType", "binary/octet-stream")
                entries.append(
                    {"key": key, "file": name, "content_type": content_type, "metadata": response.get("Metadata", {})}
                )
        index = {"format": SNAPSHOT_FORMAT, "bucket": bucket, "objects": entries}
        (partial / SNAPSHOT_INDEX).write_text(json.dumps(index, indent=1), encoding="utf-8")
        _replace(snapshot, partial)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return len(entries)


def _replace(target: Path, new: Path) -> None:
    """Rename the directory `new` to `target`. The old `target` waits at `<target>.previous` until then: a
    crash between the two renames leaves it there, and `_settle` puts it back."""
    previous = target.with_name(f"{target.name}.previous")
    shutil.rmtree(previous, ignore_errors=True)
    if target.exists():
        target.rename(previous)
    try:
        new.rename(target)
    except BaseException:
        _settle(target)
        raise
    shutil.rmtree(previous, ignore_errors=True)


def _settle(snapshot: Path) -> None:
    """Put back a previous snapshot that a `_replace` cut short had moved aside."""
    previous = snapshot.with_name(f"{snapshot.name}.previous")
    if not snapshot.exists() and previous.is_dir():
        previous.rename(snapshot)


def _print_summary(console, paths: Paths, summary: dict[str, Any]) -> None:
    lake, sample = summary["lake"], summary["sample"]
    bucket, prefixes = lake["bucket"], lake["prefixes"]
    curl_body = json.dumps({"prompt": sample["prompt"], "max_tokens": SAMPLE_MAX_TOKENS, "temperature": 0})
    console.print()
    console.print(f"[bold]prompt[/]      {sample['prompt']!r}")
    console.print(f"[bold]completion[/]  {sample['completion']!r}")
    console.print()
    console.print(f"[bold]lake[/]    {lake['endpoint']}  bucket {bucket}  (S3 API; any access key works)")
    zones = {"raw": "the shipped corpus", "curated": "its token shards", "models": "the exported model"}
    width = max(len(prefix) for prefix in prefixes.values())
    for zone, what in zones.items():
        console.print(f"          s3://{bucket}/{prefixes[zone]:<{width}}  {what}")
    console.print(f"          e.g. aws --endpoint-url {lake['endpoint']} s3 ls s3://{bucket}/ --recursive")
    console.print(f"[bold]model[/]   {summary['model']}")
    console.print(f"[bold]server[/]  {summary['server']}")
    console.print(
        f"          curl -s {summary['server']}/v1/completions -H 'Content-Type: application/json' -d '{curl_body}'"
    )
    console.print(f"[bold]logs[/]    {paths.display(Path(summary['logs']))}/")
    console.print("stop with: aiinfra local down")


# ---------------------------------------------------------------------------------------------- down


def down(args: argparse.Namespace) -> int:
    """`aiinfra local down`: stop what `up` started; exit 0, also when nothing runs; 1, having stopped nothing,
    when the lake's objects cannot be saved; InputError (exit 2) while another `up` or `down` runs. `--purge`
    does not save the objects: it deletes them."""
    paths = Paths.of(getattr(args, "cwd", Path(".")))
    if args.grace_s < 0:
        raise InputError(Problem("--grace-s", f"{args.grace_s} — must not be negative"))
    # No state directory: nothing to stop, and no reason to create one for the lock.
    with _exclusive(paths, "down") if paths.root.is_dir() else contextlib.nullcontext():
        records = {name: _read_record(paths, name) for name in PROCESSES}
        if not any(records.values()):
            print(f"nothing is running (no `local up` state in {paths.display(paths.root)})")
        if not _take_down(paths, records, args.grace_s, save=not args.purge):
            return 1
        if args.purge and paths.root.exists():
            shutil.rmtree(paths.root)
            print(f"purged {paths.display(paths.root)}/ (saved lake objects and logs)")
    return 0
