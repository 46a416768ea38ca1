"""The trainer's XLA devices (TPU; CPU in the tests) through torch_xla's PJRT runtime.

torch_xla lives in its own environment (`.venv-xla`, the XLA image: workloads/training/xla-requirements.txt),
pinned with the torch it was built against, not in the main one; it is imported here, in the functions that
use it, so the CUDA/CPU trainer never needs it.

How a host runs: one process per host (the pod's command), which `launch` turns into one worker per local
XLA device (per TPU chip; one on CPU). Workers join the `xla` process group through `init_method="xla://"`:
torch_xla takes rank and world size from PJRT, and on a TPU slice finds the master host among
`TPU_WORKER_HOSTNAMES` (injected by GKE into Indexed Job pods with a subdomain that request google.com/tpu).
Execution is lazy: operations build a graph that `sync` compiles (once per shape, then from its cache) and
runs, once per training step.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.distributed as dist

BACKEND = "xla"
INIT_METHOD = "xla://"


def device() -> torch.device:
    """This worker's XLA device."""
    import torch_xla  # pyright: ignore[reportMissingImports]  # only in the XLA environment

    return torch_xla.device()


def sync() -> None:
    """Cut the pending graph here: compile it (or take it from the cache) and run it on the device."""
    import torch_xla  # pyright: ignore[reportMissingImports]

    torch_xla.sync()


NO_TORCH_XLA = (
    "the XLA device (--device xla, or PJRT_DEVICE set) needs torch_xla, which this environment lacks: run the XLA "
    "image (workloads/training/Dockerfile.xla) or .venv-xla, or unset PJRT_DEVICE to train on CUDA or the CPU"
)


def launch(fn: Callable[..., None], *args: Any) -> None:
    """Run `fn(index, *args)` in one worker process per local XLA device (torch_xla's launcher). Without
    torch_xla, exit with one line saying where it is."""
    try:
        import torch_xla  # pyright: ignore[reportMissingImports]
    except ModuleNotFoundError:
        raise SystemExit(f"error: {NO_TORCH_XLA}") from None

    torch_xla.launch(fn, args=args)


def init_process_group() -> None:
    """Join the `xla` process group: collectives over the devices' interconnect (ICI on a TPU slice)."""
    import torch_xla.distributed.xla_backend  # noqa: F401  # pyright: ignore[reportMissingImports]  # registers "xla"

    dist.init_process_group(BACKEND, init_method=INIT_METHOD)
