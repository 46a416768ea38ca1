"""The trained model as serving loads it: `model.safetensors` + `config.json` under a lake prefix."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from typing import Any

import safetensors.torch
import torch
from torch import nn

from workloads.shared.lake import Lake
from workloads.shared.model import ModelConfig, Transformer

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"


def export_state_dict(
    state_dict: Mapping[str, torch.Tensor],
    config: ModelConfig,
    url: str,
    *,
    storage_options: Mapping[str, Any] | None = None,
) -> None:
    """Write the weights, then the config: a prefix with a config.json holds a complete export."""
    lake = Lake.open(url, storage_options)
    tensors = {name: tensor.detach().cpu().contiguous() for name, tensor in state_dict.items()}
    with tempfile.TemporaryDirectory() as scratch:
        local = os.path.join(scratch, WEIGHTS_FILE)
        safetensors.torch.save_file(tensors, local, metadata={"format": "pt"})
        lake.fs.makedirs(lake.root, exist_ok=True)
        lake.fs.put_file(local, lake.path(WEIGHTS_FILE))
    lake.write_bytes(json.dumps(config.to_dict(), indent=2).encode(), CONFIG_FILE)


def export_model(
    model: nn.Module, config: ModelConfig, url: str, *, storage_options: Mapping[str, Any] | None = None
) -> None:
    export_state_dict(model.state_dict(), config, url, storage_options=storage_options)


def load_exported(
    url: str, *, storage_options: Mapping[str, Any] | None = None, device: str | torch.device = "cpu"
) -> tuple[Transformer, ModelConfig]:
    """The exported model in eval mode on `device`, and its config."""
    lake = Lake.open(url, storage_options)
    config = ModelConfig.from_dict(json.loads(lake.read_bytes(CONFIG_FILE)))
    tensors = safetensors.torch.load(lake.read_bytes(WEIGHTS_FILE))
    with torch.device(device):
        model = Transformer(config)
    model.load_state_dict(tensors)
    return model.eval(), config
