"""Decoder-only transformer: pre-norm RMSNorm, RoPE, causal SDPA attention, SwiGLU MLP, tied embeddings."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from workloads.training.tokenizer import VOCAB_SIZE


@dataclass(frozen=True)
class ModelConfig:
    vocab_size: int
    d_model: int
    n_layers: int
    n_heads: int
    max_seq_len: int
    ffn_mult: int = 4
    """SwiGLU hidden width is 2/3 · ffn_mult · d_model (same parameter count as a GELU MLP of ffn_mult)."""
    ffn_multiple_of: int = 64
    """The SwiGLU hidden width is rounded up to a multiple of this (tensor-core friendly shapes)."""
    rope_theta: float = 10000.0
    norm_eps: float = 1e-5

    def __post_init__(self) -> None:
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model {self.d_model} is not divisible by n_heads {self.n_heads}")
        if self.head_dim % 2:
            raise ValueError(f"head_dim {self.head_dim} must be even for rotary embeddings")

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    @property
    def ffn_hidden(self) -> int:
        hidden = 2 * self.ffn_mult * self.d_model // 3
        return -(-hidden // self.ffn_multiple_of) * self.ffn_multiple_of

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown ModelConfig fields: {', '.join(unknown)}")
        return cls(**data)


RECIPES: dict[str, ModelConfig] = {
    # Seconds per step on a laptop CPU; used by tests and `aiinfra local train`.
    "tiny": ModelConfig(vocab_size=VOCAB_SIZE, d_model=64, n_layers=2, n_heads=4, max_seq_len=64),
    # ≈1.2 B non-embedding parameters: one 8-GPU node.
    "1b": ModelConfig(vocab_size=VOCAB_SIZE, d_model=2048, n_layers=24, n_heads=16, max_seq_len=2048),
    # ≈6.4 B parameters: FSDP across several nodes.
    "7b": ModelConfig(vocab_size=VOCAB_SIZE, d_model=4096, n_layers=32, n_heads=32, max_seq_len=4096),
}


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


class Attention(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.n_heads = config.n_heads
        self.head_dim = config.head_dim
        self.qkv = nn.Linear(config.d_model, 3 * config.d_model, bias=False)
        self.out = nn.Linear(config.d_model, config.d_model, bias=False)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        batch, seq, width = x.shape
        q, k, v = self.qkv(x).view(batch, seq, 3, self.n_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        attended = F.scaled_dot_product_attention(q, k, v, is_causal=True)
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

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        x = x + self.attention(self.attention_norm(x), cos, sin)
        return x + self.mlp(self.mlp_norm(x))


class Transformer(nn.Module):
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
        for block in self.blocks:
            for linear in (block.attention.qkv, block.mlp.gate, block.mlp.up):
                nn.init.normal_(linear.weight, std=0.02)
            for linear in (block.attention.out, block.mlp.down):
                nn.init.normal_(linear.weight, std=residual_std)
        for norm in (self.norm, *(n for b in self.blocks for n in (b.attention_norm, b.mlp_norm))):
            nn.init.ones_(norm.weight)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens [B, T] (int64) → logits [B, T, vocab_size]."""
        seq = tokens.shape[1]
        if seq > self.config.max_seq_len:
            raise ValueError(f"sequence length {seq} exceeds max_seq_len {self.config.max_seq_len}")
        cos, sin = self.rope_cos[:seq], self.rope_sin[:seq]
        x = self.embedding(tokens)
        for block in self.blocks:
            x = block(x, cos, sin)
        return F.linear(self.norm(x), self.embedding.weight)

    def num_params(self, *, embedding: bool = True) -> int:
        """Parameter count; the tied embedding counts once, and not at all with embedding=False."""
        total = sum(p.numel() for p in self.parameters())
        return total if embedding else total - self.embedding.weight.numel()

    def flops_per_token(self, seq_len: int) -> int:
        return flops_per_token(self.config, self.num_params(embedding=False), seq_len)


def flops_per_token(config: ModelConfig, non_embedding: int, seq_len: int) -> int:
    """Training FLOPs per token (forward + backward): 6N + 12·L·H·Q·T (PaLM appendix B)."""
    return 6 * non_embedding + 12 * config.n_layers * config.n_heads * config.head_dim * seq_len
