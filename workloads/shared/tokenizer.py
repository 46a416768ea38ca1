"""Byte-level tokenizer: every UTF-8 byte is a token, plus three specials. Nothing to download."""

from __future__ import annotations

from collections.abc import Iterable

BYTE_TOKENS = 256
BOS_ID = 256
EOS_ID = 257
PAD_ID = 258
VOCAB_SIZE = 259
SPECIAL_IDS = frozenset({BOS_ID, EOS_ID, PAD_ID})


def encode(text: str, *, add_bos: bool = False, add_eos: bool = False) -> list[int]:
    ids = list(text.encode("utf-8"))
    return ([BOS_ID] if add_bos else []) + ids + ([EOS_ID] if add_eos else [])


def decode(ids: Iterable[int]) -> str:
    """The text of the byte tokens; specials are dropped and invalid UTF-8 becomes U+FFFD."""
    return bytes(i for i in ids if i < BYTE_TOKENS).decode("utf-8", errors="replace")
