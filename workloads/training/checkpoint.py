"""Checkpoints in the lake with torch.distributed.checkpoint (DCP).

Layout under `<lake>/checkpoints/<run>/`: one `step-<n>/` directory per checkpoint (each rank's shards plus
DCP's `.metadata`) and a `latest` marker naming the newest complete one. The marker is written by rank 0
only after every rank's save returned and a barrier passed, in one atomic write (temp file + rename on a
local disk, one PUT on an object store); a crash at any point of a save leaves it naming the previous
checkpoint. With async saves the marker follows when the save is awaited: at the next save or at the end.

On XLA devices the state is copied to the CPU for DCP (which reads tensor storage that lazy XLA tensors lack)
and copied back on load, and DCP coordinates over a gloo group (the `xla` backend has no object collectives).
"""

from __future__ import annotations

import json
from concurrent.futures import Future
from typing import Any, cast

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.checkpoint import state_dict_loader, state_dict_saver
from torch.distributed.checkpoint._fsspec_filesystem import FsspecReader, FsspecWriter
from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict
from torch.distributed.checkpoint.stateful import Stateful

from workloads.shared.lake import Lake
from workloads.training import faults
from workloads.training.data import TokenBatches

LATEST = "latest"
STEP_PREFIX = "step-"


class TrainState(Stateful):
    """Everything a resumed run needs: weights, optimizer, schedule, data position, RNG, step."""

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        scheduler: torch.optim.lr_scheduler.LRScheduler,
        batches: TokenBatches,
        *,
        on_cpu: bool = False,
    ):
        self.model = model
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.batches = batches
        self.on_cpu = on_cpu
        """Hand DCP CPU copies of the weights and optimizer state (XLA); loading copies them back in place."""
        self.step = 0

    def state_dict(self) -> dict[str, Any]:
        model_state, optimizer_state = get_state_dict(self.model, self.optimizer)
        if self.on_cpu:
            model_state, optimizer_state = _to_cpu(model_state), _to_cpu(optimizer_state)
        return {
            "step": self.step,
            "model": model_state,
            "optimizer": optimizer_state,
            "scheduler": self.scheduler.state_dict(),
            "data": self.batches.state_dict(),
            # Every rank seeds alike and draws no rank-specific randomness, so one RNG state serves all ranks.
            "rng": _rng_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        set_state_dict(self.model, self.optimizer, model_state_dict=state["model"], optim_state_dict=state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.batches.load_state_dict(state["data"])
        torch.set_rng_state(state["rng"]["cpu"])
        if "cuda" in state["rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state(state["rng"]["cuda"])
        self.step = int(state["step"])


def _to_cpu(state: Any) -> Any:
    """The same nesting of dicts and lists, with every tensor copied to the CPU."""
    if isinstance(state, torch.Tensor):
        return state.detach().cpu()
    if isinstance(state, dict):
        return {key: _to_cpu(value) for key, value in state.items()}
    if isinstance(state, list):
        return [_to_cpu(value) for value in state]
    return state


def _rng_state() -> dict[str, torch.Tensor]:
    state = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


class _ShardWriter(FsspecWriter):
    """DCP's fsspec writer, plus the crash-after-shards fault hook of the resilience tests."""

    def __init__(self, url: str, *, rank: int, step: int, sync_files: bool, storage_options: dict[str, Any]):
        super().__init__(url, sync_files=sync_files, **storage_options)
        self.rank = rank
        self.step = step

    def write_data(self, plan, planner):
        written = super().write_data(plan, planner)
        written.wait()
        faults.crash_if_armed(cast(int, self.rank), self.step)
        return written


class Checkpointer:
    def __init__(self, lake: Lake, *, keep: int, async_save: bool, rank: int, cpu_group: bool = False):
        if keep < 1:
            raise ValueError(f"keep_checkpoints must be at least 1, got {keep}")
        self.lake = lake
        self.keep = keep
        self.async_save = async_save
        self.rank = rank
        self.single_process = not dist.is_initialized()
        # Background saves must not share a process group with training's collectives; on XLA (`cpu_group`) no
        # save may use the default group, whose backend cannot gather DCP's plans.
        self.process_group = (
            dist.new_group(backend="gloo") if (async_save or cpu_group) and not self.single_process else None
        )
        self.sync_group = self.process_group if cpu_group else None
        """The group of loads, synchronous saves and the commit barrier: the default one, except on XLA."""
        self._pending: tuple[int, Future] | None = None

    def latest_step(self) -> int | None:
        if not self.lake.exists(LATEST):
            return None
        return int(json.loads(self.lake.read_bytes(LATEST))["step"])

    def load(self, state: TrainState, step: int) -> None:
        reader = FsspecReader(self.lake.url(f"{STEP_PREFIX}{step}"), **self.lake.storage_options)
        state_dict_loader.load(
            {"train": state},
            storage_reader=reader,
            process_group=cast("dist.ProcessGroup | None", self.sync_group),
            no_dist=self.single_process,
        )

    def save(self, state: TrainState, step: int) -> None:
        self.wait()
        writer = _ShardWriter(
            self.lake.url(f"{STEP_PREFIX}{step}"),
            rank=self.rank,
            step=step,
            sync_files=self.lake.is_local,
            storage_options=dict(self.lake.storage_options),
        )
        if self.async_save:
            future = state_dict_saver.async_save(
                {"train": state},
                storage_writer=writer,
                process_group=cast("dist.ProcessGroup | None", self.process_group),
                no_dist=self.single_process,
            )
            self._pending = (step, cast(Future, future))  # a Future without an async_stager
        else:
            state_dict_saver.save(
                {"train": state},
                storage_writer=writer,
                process_group=cast("dist.ProcessGroup | None", self.sync_group),
                no_dist=self.single_process,
            )
            self._commit(step)

    def wait(self) -> None:
        """Finish a background save, if one is running, and mark it latest."""
        if self._pending is not None:
            step, future = self._pending
            self._pending = None
            future.result()
            self._commit(step)

    def _commit(self, step: int) -> None:
        if not self.single_process:
            dist.barrier(group=cast("dist.ProcessGroup | None", self.sync_group))
        if self.rank == 0:
            self.lake.write_bytes(json.dumps({"step": step, "path": f"{STEP_PREFIX}{step}"}).encode(), LATEST)
            self._prune(step)

    def _prune(self, latest: int) -> None:
        """Keep the newest `keep` checkpoints up to `latest`; later (unfinished) ones are overwritten when
        their step comes round again."""
        steps = sorted(
            int(name.removeprefix(STEP_PREFIX))
            for name in self.lake.list_dirs()
            if name.startswith(STEP_PREFIX) and name.removeprefix(STEP_PREFIX).isdigit()
        )
        complete = [s for s in steps if s <= latest]
        for old in complete[: -self.keep]:
            self.lake.remove_tree(f"{STEP_PREFIX}{old}")
