"""`aiinfra local train`: the cluster's trainer under torchrun on this machine (CPU, gloo).

Imports nothing heavy at module level: the CLI builds its parser from `add_arguments` on every call.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO

from aiinfra.core.errors import InputError, Problem
from workloads.shared.lake_url import OBJECT_STORES, endpoint_problem, store_of
from workloads.training.config import (
    PARALLELISMS,
    TORCHRUN_ENV,
    TrainConfig,
    add_train_arguments,
    config_from_args,
)

REPO_ROOT = Path(__file__).resolve().parents[2]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--nproc", type=int, default=1, help="worker processes (ranks) on this machine")
    parser.add_argument(
        "--max-restarts", type=int, default=1, help="torchrun restarts after a worker dies; each resumes"
    )
    add_train_arguments(parser)


STOP_GRACE_S = 5.0
"""How long torchrun gets to stop its workers after SIGTERM before it is killed."""


def run(args: argparse.Namespace) -> int:
    """Validate the flags and the lake, then run torchrun and return its exit code. Stopped (Ctrl-C, SIGTERM),
    torchrun gets SIGTERM, which it passes on to its workers (a SIGKILL would orphan them: they run in sessions
    of their own), and SIGKILL after STOP_GRACE_S; its stderr is passed through until then, so the tracebacks
    each process prints on the way out do not bury the one line saying why it stopped."""
    command, env = torchrun_command(args)
    stopping = threading.Event()
    with subprocess.Popen(command, env=env, stderr=subprocess.PIPE) as torchrun:
        relay = threading.Thread(target=_relay, args=(torchrun.stderr, stopping), daemon=True)
        relay.start()
        try:
            code = torchrun.wait()
        except BaseException:
            stopping.set()
            torchrun.terminate()
            try:
                torchrun.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                torchrun.kill()
            raise
        relay.join()
        return code


def _relay(stream: IO[bytes], stopping: threading.Event) -> None:
    for line in stream:
        if not stopping.is_set():
            sys.stderr.buffer.write(line)
            sys.stderr.flush()


def torchrun_command(args: argparse.Namespace) -> tuple[list[str], dict[str, str]]:
    """Validate the flags, write the tiny corpus unless --data names a dataset, and return the torchrun command
    and its environment. Raises InputError (one line per problem; the CLI prints them and exits 2) on bad flags
    or an unreachable lake."""
    from workloads.shared.model import RECIPES

    config = config_from_args(args, lake=_absolute(args.lake, getattr(args, "cwd", Path("."))))
    problems = []
    if config.recipe not in RECIPES:
        problems.append(Problem("--recipe", f"{config.recipe!r} is not a recipe; choose one of {', '.join(RECIPES)}"))
    if config.parallelism not in PARALLELISMS:
        problems.append(Problem("--parallelism", f"{config.parallelism!r}; choose {' or '.join(PARALLELISMS)}"))
    minimums = (
        ("--nproc", args.nproc, 1),
        ("--max-restarts", args.max_restarts, 0),
        ("--steps", config.steps, 1),
        ("--batch-size", config.batch_size, 1),
        ("--checkpoint-every", config.checkpoint_every, 0),
        ("--keep-checkpoints", config.keep_checkpoints, 1),
    )
    problems += [
        Problem(flag, f"{value} — use {minimum} or more") for flag, value, minimum in minimums if value < minimum
    ]
    endpoint = endpoint_problem(config.lake, config.endpoint_url)
    if endpoint:
        problems.append(Problem("--endpoint-url", endpoint))
    if problems:
        raise InputError(problems)
    _prepare_data(config)

    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={args.nproc}",
        f"--max-restarts={args.max_restarts}",
        "-m",
        "--",  # the trainer's flags are not torchrun's (--run would be an ambiguous abbreviation of --run-path)
        "workloads.training.train",
        *config.to_argv(),
    ]
    return command, child_env(TORCHRUN_ENV)


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment plus `extra`, with this checkout first on PYTHONPATH: a child started with
    `python -m workloads...` imports the same code as its parent, wherever it runs from."""
    return {
        **os.environ,
        **(extra or {}),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
    }


def _prepare_data(config: TrainConfig) -> None:
    """Write the shipped tiny corpus into the lake unless --data names a dataset; either way, fail here, in
    one line, when the store cannot be reached."""
    from workloads.shared.lake import Lake
    from workloads.training.data import INDEX_FILE, prepare_tiny_corpus

    flag, url = ("--lake", config.lake) if config.data is None else ("--data", config.data)
    fix = "check the URL and --endpoint-url" if store_of(url) in OBJECT_STORES else "check the URL"
    try:
        if config.data is None:
            prepare_tiny_corpus(config.data_url, storage_options=config.storage_options)
        elif not Lake.open(config.data, config.storage_options).exists(INDEX_FILE):
            raise InputError(Problem(flag, f"{url} holds no dataset ({INDEX_FILE}); write one with data.prepare"))
    except InputError:
        raise
    except Exception as err:  # any filesystem or network failure means the same thing here
        detail = " ".join(f"{type(err).__name__}: {err}".split())[:200]
        raise InputError(Problem(flag, f"{url} is not reachable or writable ({detail}); {fix}")) from err


def _absolute(lake: str, cwd: Path) -> str:
    """A local lake as an absolute path (relative ones under `aiinfra -C DIR`), so every worker agrees."""
    if "://" in lake:
        return lake
    return str((cwd / lake).resolve())
