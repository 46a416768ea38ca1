"""Stopping a command: SIGINT and SIGTERM end `plan` with one line and 130/143 and leave no process behind;
a closed pipe is not an error; an unexpected exception is one message and exit 3, not a traceback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aiinfra import cli
from tests.e2e.test_cli import AIINFRA, REPO

WITH_SIGINT = [
    sys.executable,
    "-c",
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "os.execv(sys.executable, [sys.executable, '-m', 'aiinfra.cli', *sys.argv[1:]])",
]
"""`aiinfra` with SIGINT handled as in a terminal: a job started in the background (as CI runs the tests)
inherits SIGINT ignored, and Python keeps it so."""


def processes() -> list[tuple[int, str, str]]:
    """(session, state, command line) of every process."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        except OSError:
            continue  # exited while we looked
        found.append((int(fields[3]), fields[0], cmdline))
    return found


def session_processes(session: int) -> list[str]:
    """Command lines of the live processes of a session (a stopped plan's children would still be in it)."""
    return [cmdline for sid, state, cmdline in processes() if sid == session and state != "Z"]


def trainers(lake: Path) -> list[str]:
    """Live trainer processes training into `lake` (torchrun starts them in sessions of their own)."""
    return [c for _, state, c in processes() if state != "Z" and "workloads.training.train" in c and str(lake) in c]


def wait_for_policy_pack(session: int) -> None:
    """Until the plan has started its policy pack (so there is a child to leave behind)."""
    for _ in range(600):
        if any("pulumi.policy" in c for c in session_processes(session)):
            return
        time.sleep(0.05)
    pytest.fail("the plan never started its policy pack")


@pytest.mark.parametrize(
    ("sig", "after_s", "code", "line"),
    [
        (signal.SIGINT, 0.0, 130, "interrupted"),
        (signal.SIGINT, 3.0, 130, "interrupted"),
        (signal.SIGTERM, 1.5, 143, "terminated"),
    ],
)
def test_a_stopped_plan_says_one_line_and_leaves_no_process(sig, after_s, code, line):
    plan = subprocess.Popen(
        [*AIINFRA, "plan", "--stack", "prod"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        wait_for_policy_pack(plan.pid)
        time.sleep(after_s)
        plan.send_signal(sig)
        _, err = plan.communicate(timeout=60)
    finally:
        if plan.poll() is None:
            os.killpg(plan.pid, signal.SIGKILL)
    assert (plan.returncode, err) == (code, f"{line}\n")
    time.sleep(0.2)  # the pack's exit is reaped by its parent's kill; give /proc a moment
    assert session_processes(plan.pid) == []


@pytest.mark.parametrize("flags", [[], ["--json"]], ids=["terminal", "json"])
def test_a_reader_that_goes_away_is_not_an_error(flags):
    """`plan | head -1` at its worst: the reader is gone before the first write."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        plan = subprocess.run(
            [*AIINFRA, "plan", "--stack", "dev", *flags],
            cwd=REPO,
            stdout=write_end,
            capture_output=False,
            stderr=subprocess.PIPE,
            timeout=300,
            check=False,
        )
    finally:
        os.close(write_end)
    assert (plan.returncode, plan.stderr) == (0, b"")


def test_an_unexpected_exception_is_one_message_and_exit_3(monkeypatch, capsys):
    def broken(_args):
        raise KeyError("cpu")

    monkeypatch.setitem(cli.COMMANDS, "validate", broken)
    assert cli.main(["validate", "--stack", "dev"]) == 3
    err = capsys.readouterr().err
    assert err.startswith("internal error: KeyError: 'cpu'\nThis is a bug in aiinfra")
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("sig", "code", "line"), [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")]
)
def test_a_stopped_local_train_stops_its_workers_and_says_one_line(tmp_path, sig, code, line):
    """torchrun's workers run in sessions of their own: they must be stopped through torchrun, not orphaned."""
    train = subprocess.Popen(
        [*WITH_SIGINT, "-C", str(tmp_path), "local", "train", "--steps", "100000", "--nproc", "2"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert train.stdout is not None
    try:
        train.stdout.readline()  # the first step: torchrun and both workers are up
        workers = trainers(tmp_path)
        train.send_signal(sig)
        _, err = train.communicate(timeout=60)
    finally:
        if train.poll() is None:
            os.killpg(train.pid, signal.SIGKILL)
    assert train.returncode == code
    assert err.rstrip().endswith(line) and "Traceback" not in err
    assert workers
    assert trainers(tmp_path) == []


STOPPED_WHILE_STARTING = """
import os, signal, subprocess, sys, threading, time
from aiinfra import interrupts

real_popen = subprocess.Popen

def popen_then_stop(*args, **kwargs):
    process = real_popen(*args, **kwargs)
    os.kill(os.getpid(), signal.SIGTERM)  # the stop lands after the fork, before start_child returns
    time.sleep(1.0)
    return process

subprocess.Popen = popen_then_stop
sleeper = {"args": (["sleep", "60"],), "kwargs": {"stderr": subprocess.DEVNULL}}
with interrupts.stop_hard_on_signals():
    if sys.argv[1] == "main":
        interrupts.start_child(*sleeper["args"], **sleeper["kwargs"])
    else:
        threading.Thread(target=interrupts.start_child, **sleeper).start()
    time.sleep(30)
"""


@pytest.mark.parametrize("thread", ["main", "other"])
def test_a_stop_while_a_child_starts_still_stops_that_child(thread):
    """The policy packs start on a thread of their own while the program runs: a stop that lands between a
    child's fork and its tracking must wait for it (another thread) or be deferred (the main thread)."""
    stopped = subprocess.Popen(
        [sys.executable, "-c", STOPPED_WHILE_STARTING, thread],
        cwd=REPO,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        _, err = stopped.communicate(timeout=20)
    finally:
        if stopped.poll() is None:
            os.killpg(stopped.pid, signal.SIGKILL)
    assert (stopped.returncode, err) == (143, "terminated\n")
    time.sleep(0.2)
    assert session_processes(stopped.pid) == []
