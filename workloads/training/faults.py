"""Fault injection for the resilience tests. Inert unless its environment variables are set, and only on
torchrun's first attempt, so the restarted workers run clean."""

from __future__ import annotations

import os
import signal

KILL_AT_STEP = "AIINFRA_FAULT_KILL_AT_STEP"
"""`RANK:STEP`: that rank SIGKILLs itself after training step STEP (before that step's checkpoint)."""
CRASH_SAVE_AT_STEP = "AIINFRA_FAULT_CRASH_SAVE_AT_STEP"
"""`RANK:STEP`: that rank exits right after writing its shards of the step-STEP checkpoint, before the
checkpoint's metadata exists (other ranks may have written theirs)."""


def _armed(variable: str, rank: int, step: int) -> bool:
    if os.environ.get("TORCHELASTIC_RESTART_COUNT", "0") != "0":
        return False
    return os.environ.get(variable) == f"{rank}:{step}"


def kill_if_armed(rank: int, step: int) -> None:
    if _armed(KILL_AT_STEP, rank, step):
        os.kill(os.getpid(), signal.SIGKILL)


def crash_if_armed(rank: int, step: int) -> None:
    if _armed(CRASH_SAVE_AT_STEP, rank, step):
        os._exit(17)
