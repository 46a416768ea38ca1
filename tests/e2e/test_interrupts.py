"""Stopping a command: SIGINT and SIGTERM end `plan` with one line and 130/143 and leave no process behind;
a closed pipe is not an error; an unexpected exception is one message and exit 3, not a traceback."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from aiinfra import cli
from tests.e2e.test_cli import AIINFRA, REPO


def session_processes(session: int) -> list[str]:
    """Command lines of the live processes of a session (a stopped plan's children would still be in it)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        except OSError:
            continue  # exited while we looked
        if int(fields[3]) == session and fields[0] != "Z":
            found.append(cmdline)
    return found


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
