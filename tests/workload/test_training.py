"""The training workload on real torch (CPU, gloo): learning, checkpoints, elastic recovery, lakes on S3, GCS and
ADLS (their emulators: moto, fake-gcs-server, Azurite).

Multi-rank tests go through the `aiinfra local train` handler, i.e. real torchrun with 2 worker processes.
Resumed runs must end bitwise equal to an uninterrupted run with the same seed (same parallelism); FSDP
against DDP agrees to 1e-5 (the reduction order differs, nothing else).
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import os
import tempfile
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from aiinfra.core.errors import InputError
from workloads.shared import tokenizer
from workloads.shared.export import export_model, load_exported
from workloads.shared.lake_url import storage_options
from workloads.shared.model import RECIPES, ModelConfig, Transformer
from workloads.training import faults, local
from workloads.training.checkpoint import LATEST
from workloads.training.config import DEFAULT_DATASET, TrainConfig
from workloads.training.data import TokenBatches, prepare, prepare_tiny_corpus
from workloads.training.metrics import device_peak_flops, mfu, peak_flops_of
from workloads.training.train import Trainer, lr_multiplier

pytestmark = pytest.mark.filterwarnings("ignore:torch.distributed is disabled:UserWarning")
STEPS = 8
CHECKPOINT_EVERY = 3
RUN_FLAGS = ("--nproc", "2", "--steps", str(STEPS), "--checkpoint-every", str(CHECKPOINT_EVERY))


def local_train(*flags: str, env: dict[str, str] | None = None) -> tuple[int, list[dict]]:
    """Run the `aiinfra local train` handler; return its exit code and the JSON lines it printed."""
    parser = argparse.ArgumentParser()
    local.add_arguments(parser)
    args = parser.parse_args(list(flags))
    with tempfile.TemporaryFile() as out, mock.patch.dict(os.environ, env or {}):
        saved_stdout = os.dup(1)
        os.dup2(out.fileno(), 1)
        try:
            code = local.run(args)
        finally:
            os.dup2(saved_stdout, 1)
            os.close(saved_stdout)
        out.seek(0)
        lines = out.read().decode().splitlines()
    return code, [json.loads(line) for line in lines if line.startswith("{")]


def weights(lake: Path, run: str) -> dict[str, torch.Tensor]:
    return load_file(lake / "models" / run / "model.safetensors")


def latest(lake: Path, run: str) -> int:
    return json.loads((lake / "checkpoints" / run / LATEST).read_text())["step"]


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("lake")
    prepare_tiny_corpus(str(root / DEFAULT_DATASET))
    return root


@pytest.fixture(scope="module")
def uninterrupted(lake) -> list[dict]:
    code, records = local_train(*RUN_FLAGS, "--lake", str(lake), "--run", "uninterrupted")
    assert code == 0
    return records


@pytest.fixture(scope="module")
def uninterrupted_fsdp(lake) -> list[dict]:
    code, records = local_train(*RUN_FLAGS, "--lake", str(lake), "--run", "uninterrupted-fsdp", "--parallelism", "fsdp")
    assert code == 0
    return records


# ---------------------------------------------------------------------------- model and maths


def test_flops_per_token_is_6n_plus_attention_by_hand():
    tiny = RECIPES["tiny"]  # d 64, 2 layers, 4 heads of 16, SwiGLU hidden 192, seq 64
    per_layer = 4 * 64 * 64 + 3 * 64 * 192 + 2 * 64  # qkv + out, gate/up/down, two norms
    non_embedding = 2 * per_layer + 64  # + final norm; the tied embedding is excluded
    attention = 12 * 2 * 4 * 16 * 64
    model = Transformer(tiny)
    assert model.num_params(embedding=False) == non_embedding == 106_816
    assert model.flops_per_token(64) == 6 * non_embedding + attention == 739_200


def test_recipes_span_cpu_one_node_and_multi_node():
    def billions(config: ModelConfig) -> float:
        with torch.device("meta"):
            return Transformer(config).num_params() / 1e9

    assert billions(RECIPES["tiny"]) < 0.001
    assert 1.1 < billions(RECIPES["1b"]) < 1.3
    assert billions(RECIPES["7b"]) > 5


def test_mfu_is_achieved_flops_over_the_gpu_peak():
    # 8 H100s at 20k tokens/s on the 1b recipe: 20e3 * 8.494e9 / (8 * 989e12)
    flops = _meta_model("1b").flops_per_token(2048)
    assert flops == 6 * 1_214_351_360 + 12 * 24 * 16 * 128 * 2048
    assert mfu(20_000, flops, 989e12, 8) == pytest.approx(20_000 * flops / (8 * 989e12))
    assert mfu(20_000, flops, None, 8) is None


@pytest.mark.parametrize(
    ("device_name", "peak"),
    [
        ("NVIDIA H100 80GB HBM3", 989e12),
        ("NVIDIA H100 PCIe", 756e12),
        ("NVIDIA H200", 989e12),
        ("NVIDIA A100-SXM4-80GB", 312e12),
        ("NVIDIA L4", 121e12),
        ("NVIDIA L40S", 362e12),
        ("NVIDIA GeForce RTX 4090", None),
    ],
)
def test_peak_flops_by_gpu_name(device_name, peak):
    assert peak_flops_of(device_name) == peak


def test_cpu_has_no_peak_so_no_mfu():
    assert device_peak_flops(torch.device("cpu")) is None


def test_schedule_warms_up_linearly_then_decays_by_cosine_to_the_floor():
    factor = [lr_multiplier(s, warmup_steps=4, total_steps=20, min_ratio=0.1) for s in range(21)]
    assert factor[:4] == [0.25, 0.5, 0.75, 1.0]
    assert factor[4] == 1.0
    assert factor[12] == pytest.approx(0.55)
    assert factor[20] == pytest.approx(0.1)
    assert all(a >= b for a, b in itertools.pairwise(factor[4:]))


def test_tokenizer_round_trips_unicode_and_marks_documents():
    ids = tokenizer.encode("Grüße, 世界", add_bos=True, add_eos=True)
    assert ids[0] == tokenizer.BOS_ID and ids[-1] == tokenizer.EOS_ID
    assert max(ids) < tokenizer.VOCAB_SIZE == RECIPES["tiny"].vocab_size
    assert tokenizer.decode(ids) == "Grüße, 世界"


def test_export_then_load_gives_identical_logits(tmp_path):
    torch.manual_seed(3)
    model = Transformer(RECIPES["tiny"]).eval()
    tokens = torch.tensor([tokenizer.encode("the sea remembers", add_bos=True)])
    export_model(model, model.config, f"file://{tmp_path}/exported")
    loaded, config = load_exported(str(tmp_path / "exported"))
    assert config == model.config
    with torch.no_grad():
        assert torch.equal(loaded(tokens), model(tokens))


# ---------------------------------------------------------------------------- data


def test_ranks_read_disjoint_slices_of_one_seeded_stream_and_resume_mid_stream(tmp_path):
    url = str(tmp_path / "ds")
    prepare([f"document {i} " * 40 for i in range(30)], url, shard_tokens=2_000)  # several shards
    whole = TokenBatches(url, seq_len=16, batch_size=4, seed=7)
    ranks = [TokenBatches(url, seq_len=16, batch_size=2, rank=r, world_size=2, seed=7) for r in range(2)]
    for _ in range(5):
        inputs, targets = next(whole)
        assert torch.equal(inputs[:, 1:], targets[:, :-1])
        assert torch.equal(torch.cat([next(r)[0] for r in ranks]), inputs)
    resumed = TokenBatches(url, seq_len=16, batch_size=4, seed=7)
    resumed.load_state_dict(whole.state_dict())
    assert torch.equal(next(resumed)[0], next(whole)[0])


def test_prepare_writes_uint16_shards_and_an_index(tmp_path):
    index = prepare(["ab", "c"], str(tmp_path))
    assert index["shards"] == [{"file": "shard-00000.bin", "tokens": 5}]
    tokens = np.fromfile(tmp_path / "shard-00000.bin", dtype=np.uint16).tolist()
    assert tokens == [97, 98, tokenizer.EOS_ID, 99, tokenizer.EOS_ID]


# ---------------------------------------------------------------------------- training, single process


def test_loss_falls_over_a_few_steps(lake):
    trainer = Trainer(TrainConfig(lake=str(lake), steps=12, warmup_steps=3))
    losses = [trainer.train_step()["loss"] for _ in range(12)]
    assert np.mean(losses[-3:]) < losses[0] - 0.5


def test_only_the_newest_checkpoints_are_kept(lake):
    Trainer(TrainConfig(lake=str(lake), run="keep", steps=7, checkpoint_every=2, keep_checkpoints=2)).run()
    run_dir = lake / "checkpoints" / "keep"
    assert sorted(p.name for p in run_dir.iterdir()) == [LATEST, "step-6", "step-7"]
    assert latest(lake, "keep") == 7


# ---------------------------------------------------------------------------- torchrun: recovery


def test_loss_is_reported_once_per_step_by_rank_zero(uninterrupted):
    assert [r["step"] for r in uninterrupted] == list(range(1, STEPS + 1))
    assert uninterrupted[-1]["loss"] < uninterrupted[0]["loss"]
    assert all(r["mfu"] is None and r["tokens_per_s"] > 0 for r in uninterrupted)


@pytest.mark.parametrize(
    ("flags", "kill", "resumed_from"),
    [
        ((), "1:5", 3),
        # An async save is marked latest when the next save starts: step 3's at step 6, step 6's not before 9.
        (("--async-checkpoint",), "1:7", 3),
    ],
    ids=["sync-checkpoints", "async-checkpoints"],
)
def test_killed_rank_restarts_and_ends_bitwise_equal_to_an_uninterrupted_run(
    lake, uninterrupted, flags, kill, resumed_from
):
    run = f"killed{len(flags)}"
    code, records = local_train(*RUN_FLAGS, *flags, "--lake", str(lake), "--run", run, env={faults.KILL_AT_STEP: kill})
    assert code == 0
    resumed_at = records.index({"resumed_from": resumed_from})
    assert [r["step"] for r in records[:resumed_at]] == list(range(1, int(kill.split(":")[1]) + 1))
    assert records[resumed_at + 1 :] == _same_steps(uninterrupted, records[resumed_at + 1 :])
    assert _bitwise_equal(weights(lake, "uninterrupted"), weights(lake, run))


def test_fsdp_recovers_from_losing_rank_zero(lake, uninterrupted, uninterrupted_fsdp):
    code, records = local_train(
        *RUN_FLAGS, "--lake", str(lake), "--run", "fsdp", "--parallelism", "fsdp", env={faults.KILL_AT_STEP: "0:7"}
    )
    assert code == 0
    assert {"resumed_from": 6} in records
    assert _bitwise_equal(weights(lake, "uninterrupted-fsdp"), weights(lake, "fsdp"))
    ddp, fsdp = weights(lake, "uninterrupted"), weights(lake, "fsdp")
    assert all(torch.allclose(ddp[name], fsdp[name], rtol=0, atol=1e-5) for name in ddp)


def test_crash_during_save_leaves_latest_at_the_previous_complete_checkpoint(lake):
    code, records = local_train(
        *RUN_FLAGS,
        "--lake",
        str(lake),
        "--run",
        "crashed",
        "--max-restarts",
        "0",
        env={faults.CRASH_SAVE_AT_STEP: "1:6"},
    )
    assert code != 0
    assert records[-1]["step"] == 6
    run_dir = lake / "checkpoints" / "crashed"
    assert latest(lake, "crashed") == 3
    assert (run_dir / "step-6" / "__0_0.distcp").exists()  # rank 0 finished its shards...
    assert not (run_dir / "step-6" / ".metadata").exists()  # ...but the checkpoint never completed
    trainer = Trainer(TrainConfig(lake=str(lake), run="crashed", steps=STEPS, checkpoint_every=CHECKPOINT_EVERY))
    assert trainer.resume() == 3
    assert trainer.state.batches.samples_seen == 3 * 2 * 8  # steps × ranks × batch size


# ---------------------------------------------------------------------------- the lake on S3, GCS and ADLS (emulators)


def test_an_object_store_lake_trains_checkpoints_resumes_and_exports(remote_lake, lake, uninterrupted):
    run = f"on-{remote_lake.store}"
    code, records = local_train(
        *RUN_FLAGS,
        "--lake",
        remote_lake.url,
        "--endpoint-url",
        remote_lake.endpoint_url,
        "--run",
        run,
        env={faults.KILL_AT_STEP: "1:5"},
    )
    assert code == 0
    assert {"resumed_from": 3} in records
    assert json.loads(remote_lake.read(f"checkpoints/{run}/{LATEST}"))["step"] == STEPS
    model_url = f"{remote_lake.url}models/{run}"
    model, _ = load_exported(model_url, storage_options=storage_options(model_url, remote_lake.endpoint_url))
    assert _bitwise_equal(weights(lake, "uninterrupted"), model.state_dict())


# ---------------------------------------------------------------------------- the CLI handler's input errors


@pytest.mark.parametrize(
    ("flags", "flag"),
    [
        (["--recipe", "13b"], "--recipe"),
        (["--nproc", "0"], "--nproc"),
        (["--parallelism", "tp"], "--parallelism"),
        (["--keep-checkpoints", "0"], "--keep-checkpoints"),
    ],
)
def test_bad_flags_are_input_errors_naming_the_flag(tmp_path, flags, flag):
    with pytest.raises(InputError) as raised:
        local_train("--lake", str(tmp_path), *flags)
    assert [p.path for p in raised.value.problems] == [flag]


def test_unreachable_lakes_are_input_errors(tmp_path):
    (tmp_path / "a-file").write_text("")
    with pytest.raises(InputError) as raised:
        local_train("--lake", str(tmp_path / "a-file" / "lake"))
    assert raised.value.problems[0].path == "--lake"
    with pytest.raises(InputError) as raised:
        local_train("--lake", str(tmp_path), "--data", str(tmp_path / "no-dataset"))
    assert raised.value.problems[0].path == "--data"


def test_a_lake_whose_bucket_or_container_is_missing_is_an_input_error(remote_lake):
    with pytest.raises(InputError) as raised:
        local_train("--lake", remote_lake.absent, "--endpoint-url", remote_lake.endpoint_url)
    (problem,) = raised.value.problems
    assert problem.path == "--lake"
    assert problem.message.startswith(f"{remote_lake.absent} is not reachable or writable (")
    assert problem.message.endswith("; check the URL and --endpoint-url")


def test_an_endpoint_for_a_local_lake_is_an_input_error(tmp_path):
    with pytest.raises(InputError) as raised:
        local_train("--lake", str(tmp_path), "--endpoint-url", "http://127.0.0.1:9")
    assert [p.path for p in raised.value.problems] == ["--endpoint-url"]


def test_the_lake_defaults_to_dot_aiinfra_under_the_working_directory(tmp_path, monkeypatch):
    launched = []

    class Torchrun:
        """Records the command instead of running it."""

        def __init__(self, command, **_options):
            launched.append(command)
            self.stderr = io.BytesIO()

        def __enter__(self):
            return self

        def __exit__(self, *_exc):
            return False

        def wait(self):
            return 0

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(local.subprocess, "Popen", Torchrun)
    assert local_train("--nproc", "3", "--run", "demo") == (0, [])
    (command,) = launched
    assert command[1:6] == ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node=3", "--max-restarts=1"]
    trainer_flags = command[command.index("workloads.training.train") + 1 :]
    assert trainer_flags == ["--lake", str(tmp_path / ".aiinfra" / "lake"), "--run", "demo"]
    assert (tmp_path / ".aiinfra" / "lake" / DEFAULT_DATASET / "index.json").exists()


def _bitwise_equal(expected: dict[str, torch.Tensor], got: dict[str, torch.Tensor]) -> bool:
    return expected.keys() == got.keys() and all(torch.equal(expected[name], got[name]) for name in expected)


def _meta_model(recipe: str) -> Transformer:
    with torch.device("meta"):
        return Transformer(RECIPES[recipe])


def _same_steps(reference: list[dict], records: list[dict]) -> list[dict]:
    """The reference's records of the same steps, with the timing fields of `records`."""
    by_step = {r["step"]: r for r in reference}
    timing = ("tokens_per_s", "step_time_s")
    return [{**by_step[r["step"]], **{k: r[k] for k in timing}} for r in records]
