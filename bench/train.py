"""Benchmark: the trainer's step (workloads.training.train.Trainer) against a minimal plain PyTorch loop.

Both train the same model (same recipe, seed, batch, sequence length, optimizer, clipping and schedule) in
this process on the same device, in interleaved rounds; the ratio of median tokens/s is what the trainer's
data pipeline, metrics and bookkeeping cost. On CUDA the model runs in bf16 (autocast) and the trainer's
MFU is reported too (against workloads.training.metrics' peak table). The last line is JSON with
`tokens_per_s_ratio_vs_plain` (goal >= 0.95).

    .venv/bin/python bench/train.py [--quick] [--recipe 1b] [--batch-size 4] [--seq-len 2048] [--compile]
                                    [--cpu-threads 1]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import tempfile
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from workloads.shared.model import RECIPES, Transformer
from workloads.training.config import TrainConfig
from workloads.training.data import TokenBatches, prepare_tiny_corpus
from workloads.training.metrics import device_peak_flops, mfu
from workloads.training.train import Trainer, adamw, training_device, warmup_cosine


def plain_loop(
    config: TrainConfig, batch: tuple[torch.Tensor, torch.Tensor], device: torch.device
) -> Callable[[], None]:
    """One step of the loop a PyTorch tutorial writes: one batch of the same data already on the device,
    no data pipeline, no metrics beyond the loss it reads."""
    torch.manual_seed(config.seed)
    with device:
        model = Transformer(RECIPES[config.recipe])
    if config.compile:
        for block in model.blocks:
            block.compile()
    optimizer = adamw(model, config, device)
    scheduler = warmup_cosine(optimizer, config)
    inputs, targets = (t.to(device) for t in batch)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else contextlib.nullcontext()

    def step() -> None:
        with autocast:
            logits = model(inputs)
        loss = F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten())
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        loss.item()

    return step


def tokens_per_s(step: Callable[[], object], tokens_per_step: int) -> float:
    """Throughput of one step; both loops end each step by reading the loss, which waits for the device."""
    start = time.perf_counter()
    step()
    return tokens_per_step / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 rounds instead of 400")
    parser.add_argument("--recipe", help="defaults to 1b on CUDA, tiny on CPU")
    parser.add_argument("--batch-size", type=int, help="defaults to 4 on CUDA, 16 on CPU")
    parser.add_argument("--seq-len", type=int, help="defaults to the recipe's max_seq_len")
    parser.add_argument("--compile", action="store_true", help="torch.compile the blocks (both loops)")
    parser.add_argument(
        "--cpu-threads",
        type=int,
        default=1,
        help="intra-op threads on CPU (default 1: multi-threaded steps swing with any other load on the machine)",
    )
    args = parser.parse_args()
    device = training_device()
    cuda = device.type == "cuda"
    if not cuda:
        torch.set_num_threads(args.cpu_threads)
    recipe = args.recipe or ("1b" if cuda else "tiny")
    rounds = 100 if args.quick else 400
    device_name = torch.cuda.get_device_name(device) if cuda else f"CPU ({torch.get_num_threads()} threads)"
    print(f"device: {device_name}; torch {torch.__version__}")

    with tempfile.TemporaryDirectory() as lake:
        prepare_tiny_corpus(f"{lake}/datasets/tiny-corpus")
        config = TrainConfig(
            recipe=recipe,
            lake=lake,
            steps=10_000,
            batch_size=args.batch_size or (4 if cuda else 16),
            seq_len=args.seq_len,
            compile=args.compile,
        )
        trainer = Trainer(config)
        seq_len = trainer.seq_len
        tokens_per_step = config.batch_size * seq_len
        first_batch = next(TokenBatches(config.data_url, seq_len=seq_len, batch_size=config.batch_size))
        plain = plain_loop(config, first_batch, device)
        for _ in range(3):  # warm-up: allocator, kernels, compilation
            trainer.train_step()
            plain()
        # A round is one step of each loop, in alternating order: load from other processes on the machine
        # hits both alike, and neither always inherits the other's caches.
        ours, theirs = [], []
        for round_index in range(rounds):
            order = [(ours, trainer.train_step), (theirs, plain)]
            for results, step in order if round_index % 2 == 0 else reversed(order):
                results.append(tokens_per_s(step, tokens_per_step))

    ours_median, plain_median = statistics.median(ours), statistics.median(theirs)
    achieved_mfu = mfu(ours_median, trainer.flops_per_token, device_peak_flops(device), 1)
    print(
        f"recipe {recipe}, batch {config.batch_size} × seq {seq_len}: trainer {ours_median:,.0f} tokens/s, "
        f"plain loop {plain_median:,.0f} tokens/s (median over {rounds} interleaved steps each)"
        + (f"; MFU {achieved_mfu:.1%}" if achieved_mfu is not None else "")
    )
    print(
        json.dumps(
            {
                "bench": "train",
                "device": device_name,
                "recipe": recipe,
                "batch_size": config.batch_size,
                "seq_len": seq_len,
                "dtype": "bf16-autocast" if cuda else "fp32",
                "compile": args.compile,
                "rounds": rounds,
                "trainer_tokens_per_s": round(ours_median, 1),
                "plain_tokens_per_s": round(plain_median, 1),
                "tokens_per_s_ratio_vs_plain": round(ours_median / plain_median, 3),
                "mfu": None if achieved_mfu is None else round(achieved_mfu, 4),
            }
        )
    )


if __name__ == "__main__":
    main()
