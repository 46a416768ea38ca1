"""The training loop, launched by torchrun (`python -m torch.distributed.run ... -m workloads.training.train`),
or on XLA devices (`--device xla`, or PJRT_DEVICE set) directly, one process per host (workloads.training.xla).

gloo on CPU, nccl on GPU, xla on XLA devices; DDP or FSDP2 across ranks (DDP only on XLA); bf16 on GPU (autocast
for DDP, a mixed-precision policy for FSDP); AdamW, global-norm clipping, warmup + cosine schedule; checkpoints
in the lake and a final safetensors export under `<lake>/models/<run>/`. Rank 0 prints one JSON object per line
on stdout.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import time
from typing import Any, cast

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict
from torch.distributed.elastic.multiprocessing.errors import record
from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard
from torch.nn.parallel import DistributedDataParallel

from workloads.shared.export import export_state_dict
from workloads.shared.lake import Lake
from workloads.shared.model import RECIPES, Transformer
from workloads.training import faults, xla
from workloads.training.checkpoint import Checkpointer, TrainState
from workloads.training.config import DEVICES, PARALLELISMS, TrainConfig, parse_config
from workloads.training.data import TokenBatches
from workloads.training.metrics import device_peak_flops, mfu


def lr_multiplier(step: int, *, warmup_steps: int, total_steps: int, min_ratio: float) -> float:
    """Linear warmup to 1, then cosine decay to min_ratio at total_steps (LambdaLR's factor for `step`)."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def uses_xla(requested: str) -> bool:
    """`--device xla`, or `auto` where PJRT_DEVICE names torch_xla's runtime device (TPU, CPU)."""
    return requested == "xla" or (requested == "auto" and bool(os.environ.get("PJRT_DEVICE")))


def training_device(requested: str = "auto") -> torch.device:
    if uses_xla(requested):
        return xla.device()
    if requested == "cuda" or (requested == "auto" and torch.cuda.is_available()):
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return torch.device("cpu")


def parallelize(model: Transformer, config: TrainConfig, device: torch.device, world_size: int) -> nn.Module:
    """Compile blocks if asked, then wrap for the parallelism (nothing to wrap on a single rank)."""
    if config.compile:
        for block in model.blocks:
            block.compile()
    if world_size == 1:
        return model
    if config.parallelism == "ddp":
        # The buffers (rotary tables) are constants: nothing to broadcast each step.
        device_ids = [device.index] if device.type == "cuda" else None
        return DistributedDataParallel(
            model, device_ids=device_ids, forward_sync_buffers=False, gradient_as_bucket_view=True
        )
    precision = (
        MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
        if device.type == "cuda"
        else MixedPrecisionPolicy()
    )
    for block in model.blocks:
        fully_shard(block, mp_policy=precision)
    return cast(nn.Module, fully_shard(model, mp_policy=precision))


def adamw(model: nn.Module, config: TrainConfig, device: torch.device) -> torch.optim.AdamW:
    """Weight decay on matrices only; fused kernels on GPU."""
    matrices = [p for p in model.parameters() if p.ndim >= 2]
    vectors = [p for p in model.parameters() if p.ndim < 2]
    groups = [{"params": matrices, "weight_decay": config.weight_decay}, {"params": vectors, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=config.lr, betas=(0.9, 0.95), fused=device.type == "cuda")


def warmup_cosine(optimizer: torch.optim.Optimizer, config: TrainConfig) -> torch.optim.lr_scheduler.LambdaLR:
    multiplier = functools.partial(
        lr_multiplier, warmup_steps=config.warmup_steps, total_steps=config.steps, min_ratio=config.min_lr_ratio
    )
    return torch.optim.lr_scheduler.LambdaLR(optimizer, multiplier)


class Trainer:
    def __init__(self, config: TrainConfig):
        if config.recipe not in RECIPES:
            raise ValueError(f"unknown recipe {config.recipe!r}; choose one of {', '.join(RECIPES)}")
        if config.parallelism not in PARALLELISMS:
            raise ValueError(f"unknown parallelism {config.parallelism!r}; choose one of {', '.join(PARALLELISMS)}")
        if config.device not in DEVICES:
            raise ValueError(f"unknown device {config.device!r}; choose one of {', '.join(DEVICES)}")
        self.config = config
        self.rank = dist.get_rank() if dist.is_initialized() else 0
        self.world_size = dist.get_world_size() if dist.is_initialized() else 1
        self.device = training_device(config.device)
        self.xla = self.device.type == "xla"
        if self.xla and config.compile:
            raise ValueError("--compile is for CUDA and CPU; on XLA every step is already a compiled graph")
        if self.xla and config.parallelism == "fsdp" and self.world_size > 1:
            raise ValueError("fsdp (fully_shard) does not run on XLA devices; use ddp")
        self.model_config = RECIPES[config.recipe]
        self.seq_len = config.seq_len or self.model_config.max_seq_len

        torch.manual_seed(config.seed)
        if self.xla:  # initialised on the CPU, from the CPU generator: the same weights as a CPU run
            model = Transformer(self.model_config).to(self.device)
        else:
            with self.device:
                model = Transformer(self.model_config)
        self.flops_per_token = model.flops_per_token(self.seq_len)
        self.model = parallelize(model, config, self.device, self.world_size)
        # Sharded (FSDP) parameters already compute in bf16; replicas use autocast.
        self.autocast = (
            torch.autocast("cuda", dtype=torch.bfloat16)
            if self.device.type == "cuda" and not (self.world_size > 1 and config.parallelism == "fsdp")
            else contextlib.nullcontext()
        )
        self.optimizer = adamw(self.model, config, self.device)
        self.scheduler = warmup_cosine(self.optimizer, config)
        self.batches = TokenBatches(
            config.data_url,
            seq_len=self.seq_len,
            batch_size=config.batch_size,
            rank=self.rank,
            world_size=self.world_size,
            seed=config.seed,
            storage_options=config.storage_options,
        )
        self.state = TrainState(self.model, self.optimizer, self.scheduler, self.batches, on_cpu=self.xla)
        self.lake = Lake.open(config.lake, config.storage_options)
        self.checkpointer = (
            Checkpointer(
                self.lake.child("checkpoints", config.run),
                keep=config.keep_checkpoints,
                async_save=config.async_checkpoint,
                rank=self.rank,
                cpu_group=self.xla,
            )
            if config.checkpoint_every > 0
            else None
        )
        self.peak_flops = device_peak_flops(self.device)
        self.tokens_per_step = config.batch_size * self.seq_len * self.world_size

    def resume(self) -> int | None:
        """Load the latest complete checkpoint, if any; return its step."""
        step = self.checkpointer.latest_step() if self.checkpointer else None
        if step is not None:
            assert self.checkpointer is not None  # a step comes only from a checkpointer
            self.checkpointer.load(self.state, step)
        return step

    def train_step(self) -> dict[str, Any]:
        start = time.perf_counter()
        inputs, targets = (t.to(self.device, non_blocking=True) for t in next(self.batches))
        with self.autocast:
            logits = self.model(inputs)
        loss = F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten())
        loss.backward()
        nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        lr = self.scheduler.get_last_lr()[0]
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        if self.xla:
            xla.sync()  # the step's one graph: forward, backward, clipping, optimizer
        loss = loss.detach()
        if self.world_size > 1:
            dist.all_reduce(loss)
            loss /= self.world_size
        loss_value = loss.item()  # waits for the step to finish on the device
        step_time = time.perf_counter() - start
        self.state.step += 1
        tokens_per_s = self.tokens_per_step / step_time
        return {
            "step": self.state.step,
            "loss": loss_value,
            "lr": lr,
            "tokens_per_s": round(tokens_per_s, 1),
            "step_time_s": round(step_time, 6),
            "mfu": _rounded(mfu(tokens_per_s, self.flops_per_token, self.peak_flops, self.world_size)),
        }

    def run(self) -> None:
        resumed = self.resume()
        if resumed is not None:
            self._emit({"resumed_from": resumed})
        every = self.config.checkpoint_every
        while self.state.step < self.config.steps:
            self._emit(self.train_step())
            step = self.state.step
            faults.kill_if_armed(self.rank, step)
            if self.checkpointer and (step % every == 0 or step == self.config.steps):
                self.checkpointer.save(self.state, step)
        if self.checkpointer:
            self.checkpointer.wait()
        self.export()

    def export(self) -> None:
        """Gather the full weights on rank 0 and write them as safetensors to `<lake>/models/<run>/`."""
        full = StateDictOptions(full_state_dict=True, cpu_offload=self.world_size > 1)
        weights = cast("dict[str, torch.Tensor]", get_model_state_dict(self.model, options=full))
        if self.xla:  # safetensors writes host memory
            weights = {key: value.cpu() for key, value in weights.items()}
        if self.rank == 0:
            export_state_dict(
                weights,
                self.model_config,
                self.lake.url("models", self.config.run),
                storage_options=self.config.storage_options,
            )
        if dist.is_initialized():
            dist.barrier()

    def _emit(self, line: dict[str, Any]) -> None:
        if self.rank == 0:
            print(json.dumps(line), flush=True)


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


@record
def main(argv: list[str] | None = None) -> None:
    config = parse_config(argv)
    if uses_xla(config.device):
        xla.launch(_xla_worker, config)
        return
    distributed = "WORLD_SIZE" in os.environ
    if distributed:
        device = training_device(config.device)
        if device.type == "cuda":
            torch.cuda.set_device(device)
            # The CPU backend is there for async checkpoints, which stage and coordinate on the CPU.
            dist.init_process_group("cpu:gloo,cuda:nccl", device_id=device)
        else:
            dist.init_process_group("gloo")
    try:
        Trainer(config).run()
    finally:
        if distributed:
            dist.destroy_process_group()


def _xla_worker(index: int, config: TrainConfig) -> None:
    """One worker per local XLA device (`index`), all of them in the `xla` process group."""
    del index  # the global rank comes from the process group
    xla.init_process_group()
    try:
        Trainer(config).run()
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
