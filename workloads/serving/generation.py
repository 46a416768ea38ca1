"""Batched autoregressive generation with the training workload's `Transformer`.

A `Batch` holds sequences of different lengths in one right-padded token buffer. Its first step runs the
padded prompts through the model once (prefill), reading every sequence's logits at its own last position;
the model is causal and its rotary positions start at 0 in every row, so the padding after a sequence never
reaches those logits. The prefill fills the model's KV cache, and every later step feeds only the token each
sequence chose last, at that sequence's own position, attending to its own cached slots only. So a sequence
yields the tokens it would yield alone (greedily, or sampling with a seed, which draws from a generator of its
own). Sequences leave the batch (and the cache) as they finish, and the later steps run on the rest only.

A model without `new_cache` (e.g. a wrapper), or a Generator with kv_cache=False, runs the whole prefix again
every step instead. No sequence joins a running batch (the cache would allow it: a later prefill, then merged
rows; not done yet).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

import torch
from torch import nn

from workloads.shared.tokenizer import EOS_ID, PAD_ID, decode

if TYPE_CHECKING:
    from workloads.shared.model import Transformer


@dataclass(frozen=True, kw_only=True)
class Sampling:
    max_tokens: int = 16
    temperature: float = 1.0
    """0 picks the most likely token (greedy)."""
    top_p: float = 1.0
    """Nucleus sampling: draw from the most likely tokens whose probabilities sum to top_p."""
    stop: tuple[str, ...] = ()
    """Generation ends before the first of these strings; the text excludes it."""
    seed: int | None = None


@dataclass(frozen=True)
class GenerationRequest:
    prompt_ids: tuple[int, ...]
    sampling: Sampling


@dataclass(frozen=True)
class Generated:
    token_ids: tuple[int, ...]
    """The generated tokens, without the end-of-sequence token."""
    text: str
    finish_reason: str
    """"stop" (end-of-sequence token or a stop string) or "length" (max_tokens reached)."""
    batch_size: int
    """How many sequences started generating together with this one (itself included)."""


class _Progress:
    """One sequence while its batch runs."""

    def __init__(self, request: GenerationRequest):
        self.sampling = request.sampling
        self.length = len(request.prompt_ids)
        self.token_ids: list[int] = []
        self.text: str | None = None
        self.finish_reason: str | None = None
        self.rng = None if self.sampling.seed is None else torch.Generator().manual_seed(self.sampling.seed)
        self.batch_size = 0

    def append(self, token: int, *, batch_size: int) -> None:
        self.batch_size = max(self.batch_size, batch_size)
        if token == EOS_ID:
            self.finish_reason = "stop"
            return
        self.token_ids.append(token)
        self.length += 1
        if self.sampling.stop:
            text = decode(self.token_ids)
            cut = min((at for stop in self.sampling.stop if (at := text.find(stop)) >= 0), default=-1)
            if cut >= 0:
                self.text, self.finish_reason = text[:cut], "stop"
                return
        if len(self.token_ids) == self.sampling.max_tokens:
            self.finish_reason = "length"

    def result(self) -> Generated:
        assert self.finish_reason is not None
        text = decode(self.token_ids) if self.text is None else self.text
        return Generated(tuple(self.token_ids), text, self.finish_reason, self.batch_size)


def _sample(logits: torch.Tensor, sampling: Sampling, rng: torch.Generator | None) -> int:
    probs = torch.softmax(logits / sampling.temperature, dim=-1)
    if sampling.top_p < 1:
        sorted_probs, order = probs.sort(descending=True)
        # Keep a token while the mass before it is below top_p (so the most likely one always stays).
        keep = sorted_probs.cumsum(-1) - sorted_probs < sampling.top_p
        probs = torch.zeros_like(probs).scatter(0, order[keep], sorted_probs[keep])
    return int(torch.multinomial(probs, 1, generator=rng))


class Batch:
    """Sequences generating together, one token each per step, until every one has finished."""

    def __init__(
        self, model: nn.Module, max_seq_len: int, requests: Sequence[GenerationRequest], *, kv_cache: bool = True
    ):
        self.model = model
        self.device = next(model.parameters()).device
        width = max(len(r.prompt_ids) + r.sampling.max_tokens for r in requests)
        if width > max_seq_len:
            raise ValueError(f"prompt plus max_tokens is {width} tokens; the context is {max_seq_len}")
        tokens = torch.full((len(requests), width), PAD_ID, dtype=torch.long)
        for row, request in enumerate(requests):
            tokens[row, : len(request.prompt_ids)] = torch.tensor(request.prompt_ids)
        self._tokens = tokens.to(self.device)
        self._progress = [_Progress(r) for r in requests]
        self._active = list(range(len(requests)))
        use_cache = kv_cache and hasattr(model, "new_cache")
        self._cache = cast("Transformer", model).new_cache(len(requests), width) if use_cache else None
        """With a cache: one row per active sequence, in the order of `_active`."""
        self._chosen: torch.Tensor | None = None
        """With a cache, after the prefill: the token each active sequence chose last, not yet fed to the model."""

    def __len__(self) -> int:
        """Sequences still generating."""
        return len(self._active)

    @torch.inference_mode()
    def step(self) -> list[tuple[int, Generated]]:
        """One token for every sequence still generating; returns (index, result) of those that finished."""
        active = self._active
        progress = [self._progress[i] for i in active]
        if self._cache is None or self._chosen is None:  # the whole prefix (with a cache: the prefill)
            rows = torch.tensor(active, device=self.device)
            lengths = torch.tensor([p.length for p in progress], device=self.device)
            tokens = self._tokens[rows, : int(lengths.max())]
            logits = self.model(tokens) if self._cache is None else self.model(tokens, cache=self._cache)
            last = logits[torch.arange(len(active), device=self.device), lengths - 1]
            if self._cache is not None:
                self._cache.lengths = lengths  # the padding after each prompt is not part of its row
        else:  # each sequence's last token only, at its own position
            last = self.model(self._chosen[:, None], cache=self._cache)[:, -1]
        last = last.float().cpu()
        chosen = last.argmax(dim=-1).tolist()
        for k, p in enumerate(progress):
            if p.sampling.temperature > 0:
                chosen[k] = _sample(last[k], p.sampling, p.rng)
            p.append(chosen[k], batch_size=len(active))
        chosen_ids = torch.tensor(chosen, device=self.device)
        if self._cache is None:
            self._tokens[rows, lengths] = chosen_ids
        else:
            going = [k for k, i in enumerate(active) if self._progress[i].finish_reason is None]
            if len(going) < len(active):
                keep = torch.tensor(going, dtype=torch.long, device=self.device)
                self._cache.select(keep)
                chosen_ids = chosen_ids.index_select(0, keep)
            self._chosen = chosen_ids
        self._active = [i for i in active if self._progress[i].finish_reason is None]
        return [(i, self._progress[i].result()) for i in active if self._progress[i].finish_reason is not None]


class Generator:
    """The model and its context length; kv_cache=False recomputes the whole prefix every step."""

    def __init__(self, model: nn.Module, max_seq_len: int, *, kv_cache: bool = True):
        self.model = model
        self.max_seq_len = max_seq_len
        self.kv_cache = kv_cache

    def batch(self, requests: Sequence[GenerationRequest]) -> Batch:
        return Batch(self.model, self.max_seq_len, requests, kv_cache=self.kv_cache)

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generated]:
        """Every request's result, generated together."""
        batch = self.batch(requests)
        results: dict[int, Generated] = {}
        while batch:
            results.update(batch.step())
        return [results[index] for index in range(len(requests))]
