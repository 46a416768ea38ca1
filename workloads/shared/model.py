"""Decoder-only transformer: pre-norm RMSNorm, RoPE, causal SDPA attention, SwiGLU MLP, tied embeddings.

`Transformer.forward(tokens)` is the training path. For generation, `forward(tokens, cache=KVCache(...))`
decodes incrementally: each layer's keys and values are kept per row, so a step feeds only the new tokens.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from workloads.shared.recipes import RECIPES, ModelConfig  # noqa: F401 — RECIPES re-exported for the model's users


def rotary_tables(config: ModelConfig, device: torch.device | str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin of shape [max_seq_len, head_dim] for the rotate-half form of RoPE."""
    half = config.head_dim // 2
    inv_freq = 1.0 / (config.rope_theta ** (torch.arange(half, device=device, dtype=torch.float32) / half))
    angles = torch.outer(torch.arange(config.max_seq_len, device=device, dtype=torch.float32), inv_freq)
    angles = torch.cat([angles, angles], dim=-1)
    return angles.cos(), angles.sin()


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate x [B, H, T, Q] by position; cos/sin are [T, Q]."""
    first, second = x.chunk(2, dim=-1)
    rotated_half = torch.cat([-second, first], dim=-1)
    return x * cos.to(x.dtype) + rotated_half * sin.to(x.dtype)


class KVCache:
    """Every layer's keys and values for a batch of rows, [B, H, capacity, head_dim] each, and each row's
    length: how many leading slots hold its sequence. A slot at or past a row's length is never attended
    (it may hold the padding of a right-padded prompt) and is overwritten when the row reaches it."""

    def __init__(
        self,
        config: ModelConfig,
        batch: int,
        capacity: int,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ):
        if capacity > config.max_seq_len:
            raise ValueError(f"cache capacity {capacity} exceeds max_seq_len {config.max_seq_len}")
        shape = (batch, config.n_heads, capacity, config.head_dim)
        self.keys = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(config.n_layers)]
        self.values = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(config.n_layers)]
        self.lengths = torch.zeros(batch, dtype=torch.long, device=device)

    @property
    def capacity(self) -> int:
        return self.keys[0].shape[2] if self.keys else 0

    def __len__(self) -> int:
        """Rows."""
        return self.lengths.shape[0]

    def select(self, rows: torch.Tensor) -> None:
        """Keep only `rows` (indices into the current rows, in their new order)."""
        rows = rows.to(self.lengths.device)
        self.keys = [k.index_select(0, rows) for k in self.keys]
        self.values = [v.index_select(0, rows) for v in self.values]
        self.lengths = self.lengths.index_select(0, rows)


class _LayerCache:
    """One layer's view of a KVCache during one forward: where the new tokens go and what they may see."""

    def __init__(self, cache: KVCache, layer: int, slots: torch.Tensor | None, span: int, mask: torch.Tensor | None):
        self.cache, self.layer = cache, layer
        self.slots = slots
        """[B, T] cache slot of every new token; None when every row starts at slot 0 (causal prefill)."""
        self.span = span
        """Attend to slots [0, span)."""
        self.mask = mask
        """[B, 1, T, span] True where a new token may attend; None for causal prefill."""

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        keys, values = self.cache.keys[self.layer], self.cache.values[self.layer]
        seq = k.shape[2]
        if self.slots is None:
            keys[:, :, :seq] = k
            values[:, :, :seq] = v
            return F.scaled_dot_product_attention(q, k, v, is_causal=True)
        index = self.slots[:, None, :, None].expand_as(k)
        keys.scatter_(2, index, k)
        values.scatter_(2, index, v)
        return F.scaled_dot_product_attention(
            q, keys[:, :, : self.span], values[:, :, : self.span], attn_mask=self.mask
        )


class Attention(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.n_heads = config.n_heads
        self.head_dim = config.head_dim
        self.qkv = nn.Linear(config.d_model, 3 * config.d_model, bias=False)
        self.out = nn.Linear(config.d_model, config.d_model, bias=False)

    def forward(
        self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, cache: _LayerCache | None = None
    ) -> torch.Tensor:
        batch, seq, width = x.shape
        q, k, v = self.qkv(x).view(batch, seq, 3, self.n_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        attended = F.scaled_dot_product_attention(q, k, v, is_causal=True) if cache is None else cache.attend(q, k, v)
        return self.out(attended.transpose(1, 2).reshape(batch, seq, width))


class SwiGLU(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.gate = nn.Linear(config.d_model, config.ffn_hidden, bias=False)
        self.up = nn.Linear(config.d_model, config.ffn_hidden, bias=False)
        self.down = nn.Linear(config.ffn_hidden, config.d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(F.silu(self.gate(x)) * self.up(x))


class Block(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.attention_norm = nn.RMSNorm(config.d_model, eps=config.norm_eps)
        self.attention = Attention(config)
        self.mlp_norm = nn.RMSNorm(config.d_model, eps=config.norm_eps)
        self.mlp = SwiGLU(config)

    def forward(
        self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, cache: _LayerCache | None = None
    ) -> torch.Tensor:
        x = x + self.attention(self.attention_norm(x), cos, sin, cache)
        return x + self.mlp(self.mlp_norm(x))


class Transformer(nn.Module):
    rope_cos: torch.Tensor
    rope_sin: torch.Tensor

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.d_model)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layers))
        self.norm = nn.RMSNorm(config.d_model, eps=config.norm_eps)
        cos, sin = rotary_tables(config, self.embedding.weight.device)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)
        self.init_weights()

    @torch.no_grad()
    def init_weights(self) -> None:
        """(Re)initialise every parameter and buffer in place; also for a model materialised from meta."""
        cos, sin = rotary_tables(self.config, self.rope_cos.device)
        self.rope_cos.copy_(cos)
        self.rope_sin.copy_(sin)
        nn.init.normal_(self.embedding.weight, std=0.02)
        residual_std = 0.02 / math.sqrt(2 * self.config.n_layers)
        blocks = cast("Sequence[Block]", self.blocks)
        for block in blocks:
            for linear in (block.attention.qkv, block.mlp.gate, block.mlp.up):
                nn.init.normal_(linear.weight, std=0.02)
            for linear in (block.attention.out, block.mlp.down):
                nn.init.normal_(linear.weight, std=residual_std)
        for norm in (self.norm, *(n for b in blocks for n in (b.attention_norm, b.mlp_norm))):
            nn.init.ones_(norm.weight)

    def forward(
        self, tokens: torch.Tensor, *, cache: KVCache | None = None, positions: torch.Tensor | None = None
    ) -> torch.Tensor:
        """tokens [B, T] (int64) → logits [B, T, vocab_size].

        With a cache, row b's tokens sit at positions[b], positions[b] + 1, … (positions [B], int64; by
        default the cache's lengths): they attend to the cache's slots before them and to each other causally,
        their keys and values go into those slots, and the cache's lengths become positions + T. Each row's
        logits then equal those of a full forward over its prefix. A right-padded batch of prompts is
        prefilled from an empty cache, after which the caller sets `cache.lengths` to the prompts' lengths."""
        if cache is None:
            if positions is not None:
                raise ValueError("positions need a cache")
            return self._forward(tokens)
        return self._forward_cached(tokens, cache, cache.lengths if positions is None else positions)

    def _forward(self, tokens: torch.Tensor) -> torch.Tensor:
        seq = tokens.shape[1]
        if seq > self.config.max_seq_len:
            raise ValueError(f"sequence length {seq} exceeds max_seq_len {self.config.max_seq_len}")
        cos, sin = self.rope_cos[:seq], self.rope_sin[:seq]
        x = self.embedding(tokens)
        for block in self.blocks:
            x = block(x, cos, sin)
        return F.linear(self.norm(x), self.embedding.weight)

    def _forward_cached(self, tokens: torch.Tensor, cache: KVCache, positions: torch.Tensor) -> torch.Tensor:
        batch, seq = tokens.shape
        if len(cache) != batch or positions.shape != (batch,):
            raise ValueError(f"{batch} rows of tokens, {len(cache)} in the cache, positions {tuple(positions.shape)}")
        first, last = (int(p) for p in positions.aminmax())
        span = last + seq
        if first < 0 or span > cache.capacity:
            raise ValueError(f"positions {first}..{span - 1} do not fit the cache's {cache.capacity} slots")
        if last == 0:  # every row starts empty: the training path's causal attention
            slots = mask = None
            cos, sin = self.rope_cos[:seq], self.rope_sin[:seq]
        else:
            slots = positions[:, None] + torch.arange(seq, device=positions.device)  # [B, T]
            cos, sin = self.rope_cos[slots][:, None], self.rope_sin[slots][:, None]  # [B, 1, T, Q]
            mask = (torch.arange(span, device=positions.device) <= slots[:, :, None])[:, None]  # [B, 1, T, span]
        x = self.embedding(tokens)
        for layer, block in enumerate(self.blocks):
            x = block(x, cos, sin, _LayerCache(cache, layer, slots, span, mask))
        cache.lengths = positions + seq
        return F.linear(self.norm(x), self.embedding.weight)

    def new_cache(self, batch: int, capacity: int | None = None) -> KVCache:
        """An empty cache for `batch` rows of up to `capacity` tokens (max_seq_len by default)."""
        weight = self.embedding.weight
        capacity = self.config.max_seq_len if capacity is None else capacity
        return KVCache(self.config, batch, capacity, device=weight.device, dtype=weight.dtype)

    def num_params(self, *, embedding: bool = True) -> int:
        """Parameter count; the tied embedding counts once, and not at all with embedding=False."""
        total = sum(p.numel() for p in self.parameters())
        return total if embedding else total - self.embedding.weight.numel()

    def flops_per_token(self, seq_len: int) -> int:
        return flops_per_token(self.config, self.num_params(embedding=False), seq_len)


def flops_per_token(config: ModelConfig, non_embedding: int, seq_len: int) -> int:
    """Training FLOPs per token (forward + backward): 6N + 12·L·H·Q·T (PaLM appendix B)."""
    return 6 * non_embedding + 12 * config.n_layers * config.n_heads * config.head_dim * seq_len
