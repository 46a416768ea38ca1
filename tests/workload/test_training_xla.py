"""The trainer's XLA path, really run: torch_xla's PJRT runtime on the CPU (PJRT_DEVICE=CPU).

torch_xla 2.9.0 needs the torch 2.9.0 it was built against, so the trainer runs as a subprocess in `.venv-xla`
(workloads/training/xla-requirements.txt, built by `make test`), launched as on a TPU host: one
`python -m workloads.training.train --device xla` that spawns its worker through torch_xla's launcher and joins
the `xla` process group. What only a TPU shows (several chips and hosts, ICI collectives, speed) is not here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tests.conftest import REPO
from workloads.shared.export import load_exported
from workloads.training.checkpoint import LATEST
from workloads.training.config import DEFAULT_DATASET, TrainConfig
from workloads.training.data import prepare_tiny_corpus
from workloads.training.train import Trainer

pytestmark = pytest.mark.filterwarnings("ignore:torch.distributed is disabled:UserWarning")
XLA_PYTHON = REPO / ".venv-xla" / "bin" / "python"
STEPS = 8
CHECKPOINT_EVERY = 4
FLAGS = ("--steps", str(STEPS), "--checkpoint-every", str(CHECKPOINT_EVERY), "--warmup-steps", "3")


def train_on_xla(lake: Path, run: str) -> list[dict]:
    """Run the trainer on the XLA CPU device in `.venv-xla`; return the JSON lines it printed."""
    if not XLA_PYTHON.exists():
        pytest.fail(f"{XLA_PYTHON.relative_to(REPO)} is missing; `make test` builds it (make .venv-xla/.installed)")
    env = {**os.environ, "PJRT_DEVICE": "CPU"}
    for variable in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "TORCHELASTIC_RUN_ID", "PYTHONPATH"):
        env.pop(variable, None)  # a standalone host process, not a torchrun worker
    command = [str(XLA_PYTHON), "-m", "workloads.training.train", "--device", "xla", *FLAGS]
    done = subprocess.run(
        [*command, "--lake", str(lake), "--run", run], cwd=REPO, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> tuple[Path, list[dict]]:
    """A lake with the tiny corpus, and the records of an 8-step XLA run `xla` in it (checkpoints at 4 and 8)."""
    lake = tmp_path_factory.mktemp("xla-lake")
    prepare_tiny_corpus(str(lake / DEFAULT_DATASET))
    return lake, train_on_xla(lake, "xla")


def test_loss_falls_on_the_xla_device_and_the_export_loads(uninterrupted):
    lake, records = uninterrupted
    assert [r["step"] for r in records] == list(range(1, STEPS + 1))
    losses = [r["loss"] for r in records]
    assert losses[-1] < losses[0] - 0.5
    model, config = load_exported(str(lake / "models" / "xla"))
    assert config.vocab_size > 0
    tokens = torch.arange(16).unsqueeze(0)
    with torch.no_grad():
        assert torch.isfinite(model(tokens)).all()


def test_the_first_xla_step_computes_what_the_cpu_trainer_does(uninterrupted):
    """Same seed, same batch, same weights (initialised on the CPU, then moved): the same loss, up to XLA's
    reordering of the arithmetic."""
    lake, records = uninterrupted
    cpu = Trainer(TrainConfig(lake=str(lake), run="cpu", device="cpu", steps=STEPS, warmup_steps=3))
    assert cpu.train_step()["loss"] == pytest.approx(records[0]["loss"], rel=1e-5)


def test_a_run_resumed_from_an_xla_checkpoint_ends_bitwise_equal(uninterrupted):
    """The state of step 4 (weights and AdamW moments copied off the device, data position, schedule), as a
    crashed run would have left it, resumed in a fresh process: steps 5-8 and the export as if never stopped."""
    lake, records = uninterrupted
    source, resumed = lake / "checkpoints" / "xla", lake / "checkpoints" / "resumed"
    resumed.mkdir(parents=True)
    shutil.copytree(source / f"step-{CHECKPOINT_EVERY}", resumed / f"step-{CHECKPOINT_EVERY}")
    (resumed / LATEST).write_text(json.dumps({"step": CHECKPOINT_EVERY, "path": f"step-{CHECKPOINT_EVERY}"}))

    resumed_records = train_on_xla(lake, "resumed")

    assert resumed_records[0] == {"resumed_from": CHECKPOINT_EVERY}
    assert [r["loss"] for r in resumed_records[1:]] == [r["loss"] for r in records[CHECKPOINT_EVERY:]]
    expected = load_file(lake / "models" / "xla" / "model.safetensors")
    got = load_file(lake / "models" / "resumed" / "model.safetensors")
    assert expected.keys() == got.keys()
    assert all(torch.equal(expected[key], got[key]) for key in expected)
