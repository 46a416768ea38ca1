"""The model's shape and the named recipes: plain data, without torch, so the spec can check a stack's
`recipe:` and the deploy components can size jobs without importing the model code."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from workloads.shared.tokenizer import VOCAB_SIZE


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
