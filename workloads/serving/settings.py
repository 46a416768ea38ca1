"""What a server is told at start-up. Plain values only (no torch), so the deploy component can check
the same limits the server enforces."""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

DEFAULT_PORT = 8000

QUEUE_DEPTH = "aiinfra_queue_depth"
"""Sequences waiting for a batch; the per-pod metric the HPA scales on when a metrics adapter serves it. Here,
not in `metrics`, so the deploy component reads it without importing prometheus_client."""


@dataclass(frozen=True, kw_only=True)
class ServerSettings:
    model_url: str
    """Prefix holding the training job's export (config.json + model.safetensors)."""
    storage_options: Mapping[str, Any] = field(default_factory=dict)
    """fsspec options for `model_url` (`workloads.shared.lake_url.storage_options`), e.g. an emulator's endpoint."""
    device: str = "cpu"
    """torch device the model runs on."""
    max_batch_size: int = 16
    """Most sequences generated together; also the most prompts one request may carry."""
    max_wait_ms: float = 5.0
    """How long the oldest waiting sequence may wait for others to fill its batch."""
    max_queue: int = 256
    """Most sequences waiting for a batch; beyond it requests get 429."""
    retry_after_s: int = 1
    """`Retry-After` of 429 and 503 answers."""

    @property
    def model_name(self) -> str:
        """The `model` clients name: the last segment of the model URL (`…/models/llm-chat/` → llm-chat)."""
        return posixpath.basename(self.model_url.rstrip("/")) or self.model_url

    def problems(self) -> list[tuple[str, str]]:
        """(field, message) for every limit out of range."""
        found = []
        if self.max_batch_size < 1:
            found.append(("max_batch_size", f"{self.max_batch_size} — must be at least 1"))
        if self.max_wait_ms < 0:
            found.append(("max_wait_ms", f"{self.max_wait_ms} — must not be negative"))
        if self.max_queue < self.max_batch_size:
            found.append(("max_queue", f"{self.max_queue} — must hold at least one full batch ({self.max_batch_size})"))
        return found
