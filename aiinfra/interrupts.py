"""Stopping `plan`, `validate` and `report` at once on SIGINT or SIGTERM.

Unwinding through the Pulumi mock runtime (asyncio plus gRPC threads) after Ctrl-C takes seconds, prints
asyncio's complaints and can hang in its thread pool, so these commands stop hard instead: the handler kills
the child processes they started (policy packs, the `--against` base plan), removes the temporary files and
directories in use, prints one line and exits 130 (SIGINT) or 143 (SIGTERM). Nothing they write is partial:
outputs are written to a temporary file and renamed into place.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

from aiinfra.core.errors import EXIT_INTERRUPTED, EXIT_TERMINATED

CHILD_STOP_TIMEOUT_S = 1.0
_children: set[subprocess.Popen] = set()
_temporary_paths: set[Path] = set()
_EXIT_CODES = {signal.SIGINT: (EXIT_INTERRUPTED, "interrupted"), signal.SIGTERM: (EXIT_TERMINATED, "terminated")}


class _ChildStarts:
    """A stop waits for a child being started on another thread (the policy packs start beside the program),
    then starts no more: `lock` is held while a child is started and tracked, and by a stop until exit.
    Signal handlers run on the main thread, so a stop there while it holds the lock would wait for itself:
    it is deferred until the child is tracked."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.on_main_thread = False
        self.deferred_signal: int | None = None


_starts = _ChildStarts()


def start_child(command: Sequence[str], **popen_args: Any) -> subprocess.Popen:
    """`subprocess.Popen(command, **popen_args)`, killed if the command is stopped before
    `forget_child(process)`. Starting and tracking are one step, so no stop falls between them."""
    on_main_thread = threading.current_thread() is threading.main_thread()
    if on_main_thread:
        _starts.on_main_thread = True
    try:
        with _starts.lock:
            process = subprocess.Popen(command, **popen_args)
            _children.add(process)
    finally:
        if on_main_thread:
            _starts.on_main_thread = False
    if on_main_thread and _starts.deferred_signal is not None:
        _stop(_starts.deferred_signal, None)
    return process


def forget_child(process: subprocess.Popen) -> None:
    _children.discard(process)


def _signal_child(process: subprocess.Popen, sig: signal.Signals) -> None:
    """Signal a child; one started in a session of its own (`start_new_session=True`) gets it with its whole
    process group, so its own children (a base plan's policy packs) go too."""
    try:
        if os.getpgid(process.pid) == process.pid:
            os.killpg(process.pid, sig)
        else:
            process.send_signal(sig)
    except ProcessLookupError:
        pass  # exited meanwhile


def kill_child_group(process: subprocess.Popen) -> None:
    """SIGKILL a child started in a session of its own, with everything it started; wait for it."""
    _signal_child(process, signal.SIGKILL)
    process.wait()


@contextmanager
def temporary_path(path: Path) -> Iterator[Path]:
    """Remove `path` (a file or a directory tree) if the command is stopped before the block ends; the block
    itself renames or removes it."""
    _temporary_paths.add(path)
    try:
        yield path
    finally:
        _temporary_paths.discard(path)


def _stop(signum: int, _frame: FrameType | None) -> None:
    if _starts.on_main_thread:
        _starts.deferred_signal = signum
        return
    _starts.lock.acquire()  # never released: this process exits below
    alive = [process for process in _children if process.poll() is None]
    for process in alive:
        _signal_child(process, signal.SIGTERM)
    for process in alive:
        try:
            process.wait(timeout=CHILD_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            _signal_child(process, signal.SIGKILL)
    for path in list(_temporary_paths):
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    code, word = _EXIT_CODES[signal.Signals(signum)]
    print(word, file=sys.stderr, flush=True)
    os._exit(code)


@contextmanager
def stop_hard_on_signals() -> Iterator[None]:
    """Within the block (main thread only), SIGINT and SIGTERM stop the process as the module says."""
    previous = {sig: signal.signal(sig, _stop) for sig in _EXIT_CODES}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
