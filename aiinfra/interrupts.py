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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

from aiinfra.core.errors import EXIT_INTERRUPTED, EXIT_TERMINATED

CHILD_STOP_TIMEOUT_S = 1.0
_children: set[subprocess.Popen] = set()
_temporary_paths: set[Path] = set()
_EXIT_CODES = {signal.SIGINT: (EXIT_INTERRUPTED, "interrupted"), signal.SIGTERM: (EXIT_TERMINATED, "terminated")}


def track_child(process: subprocess.Popen) -> None:
    """Kill `process` if the command is stopped before `forget_child(process)`."""
    _children.add(process)


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
