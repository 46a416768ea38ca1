"""The trainer's settings: one dataclass, rendered to and parsed from command-line flags.

Torch-free on purpose: `aiinfra local train` and the TrainingJob component build trainer command lines
from it without importing torch.
"""

from __future__ import annotations

import argparse
import posixpath
from dataclasses import dataclass, field, fields
from typing import Any, cast

from workloads.shared.lake_url import storage_options

PARALLELISMS = ("ddp", "fsdp")
DEVICES = ("auto", "cuda", "cpu", "xla")
DEFAULT_DATASET = "curated/datasets/tiny-corpus"
"""In the curated zone: the zone training jobs' identities may read (and on ADLS, a container that exists)."""
TORCHRUN_ENV = {"TORCH_DISABLE_SHARE_RDZV_TCP_STORE": "1"}
"""Environment for torchrun: with the agent's TCP store shared (the default), restarted workers can read the
previous attempt's addresses and fail to connect (pytorch/pytorch#135712, #167288); one store per attempt."""


def _flag(default: Any, help_text: str) -> Any:
    return field(default=default, metadata={"help": help_text})


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    recipe: str = _flag("tiny", "model recipe (workloads.shared.model.RECIPES)")
    steps: int = _flag(100, "optimizer steps to train in total (a resumed run continues to this step)")
    lake: str = _flag(
        ".aiinfra/lake", "lake URL: a path, file://, s3://, gs://, https://<account>.dfs.core.windows.net/ or abfs://"
    )
    endpoint_url: str | None = _flag(
        None, "object-store endpoint of the lake: S3-compatible (MinIO, Ceph, moto), GCS (fake-gcs-server), Azurite"
    )
    run: str = _flag("default", "run name: checkpoints/<run>/ and models/<run>/ in the lake")
    data: str | None = _flag(None, f"dataset URL; defaults to <lake>/{DEFAULT_DATASET}")
    batch_size: int = _flag(8, "sequences per rank per step")
    seq_len: int | None = _flag(None, "tokens per sequence; defaults to the recipe's max_seq_len")
    lr: float = _flag(3e-3, "peak learning rate (AdamW)")
    min_lr_ratio: float = _flag(0.1, "the cosine schedule ends at lr × this")
    warmup_steps: int = _flag(10, "linear warmup steps before the cosine decay")
    weight_decay: float = _flag(0.1, "AdamW weight decay of matrices (not of norms)")
    grad_clip: float = _flag(1.0, "clip the global gradient norm to this")
    seed: int = _flag(0, "seed of the initial weights and of the data order")
    parallelism: str = _flag("ddp", "ddp (replicas) or fsdp (fully_shard), with more than one rank")
    device: str = _flag(
        "auto",
        "auto (xla when PJRT_DEVICE is set, else cuda when available, else cpu), cuda, cpu, or xla: torch_xla's "
        "PJRT runtime (TPU; CPU in tests), one process per host that spawns one worker per local device",
    )
    compile: bool = _flag(False, "torch.compile each transformer block")
    checkpoint_every: int = _flag(0, "checkpoint every N steps and at the last step; 0 disables checkpoints")
    keep_checkpoints: int = _flag(3, "complete checkpoints to keep")
    async_checkpoint: bool = _flag(False, "write checkpoints in the background (dcp.async_save)")

    @property
    def storage_options(self) -> dict[str, Any]:
        """The lake's fsspec options; ValueError when --endpoint-url does not apply to it."""
        return storage_options(self.lake, self.endpoint_url)

    @property
    def data_url(self) -> str:
        return self.data or posixpath.join(self.lake.rstrip("/"), DEFAULT_DATASET)

    def to_argv(self) -> list[str]:
        """The flags of the values that differ from the defaults: `parse_config` returns an equal config."""
        argv = []
        for f in fields(self):
            value = getattr(self, f.name)
            if value != f.default:  # booleans default to False: their flag alone means True
                argv += [_option(f.name)] if f.type == "bool" else [_option(f.name), str(value)]
        return argv


def _option(name: str) -> str:
    return "--" + name.replace("_", "-")


_TYPES = {"str": str, "int": int, "float": float, "str | None": str, "int | None": int}


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """One flag per TrainConfig field, e.g. --batch-size for batch_size."""
    for f in fields(TrainConfig):
        if f.type == "bool":
            parser.add_argument(_option(f.name), action="store_true", help=f.metadata["help"])
        else:
            parser.add_argument(
                _option(f.name), type=_TYPES[cast(str, f.type)], default=f.default, help=f.metadata["help"]
            )


def config_from_args(args: argparse.Namespace, **overrides: Any) -> TrainConfig:
    values = {f.name: getattr(args, f.name) for f in fields(TrainConfig)}
    return TrainConfig(**{**values, **overrides})


def parse_config(argv: list[str] | None = None) -> TrainConfig:
    """The trainer's command line (sys.argv by default) as a TrainConfig."""
    parser = argparse.ArgumentParser(prog="python -m workloads.training.train", description="Train a transformer.")
    add_train_arguments(parser)
    return config_from_args(parser.parse_args(argv))
