"""Token shards in the lake: `prepare` writes them, `TokenBatches` reads them back per rank.

A dataset is a prefix holding `shard-NNNNN.bin` files (uint16 tokens, documents separated by EOS) and an
`index.json` written last. Training samples are windows of seq_len + 1 tokens (inputs and shifted targets),
visited in a seeded order that depends only on (seed, epoch): shards in a shuffled order, windows within a
shard shuffled. The global stream of samples is cut into global batches; rank r of W takes the r-th slice
of each. The position is the number of samples the whole job consumed, so resuming continues the same
stream, even on a different number of ranks.
"""

from __future__ import annotations

import argparse
import bisect
import functools
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from workloads.shared.lake import Lake
from workloads.shared.lake_url import storage_options
from workloads.shared.tokenizer import EOS_ID, VOCAB_SIZE, encode

INDEX_FILE = "index.json"
TOKEN_DTYPE = np.uint16
TINY_CORPUS = Path(__file__).with_name("data") / "tiny_corpus.txt"
DEFAULT_SHARD_TOKENS = 1 << 26
"""64 Mi tokens (128 MiB) per shard: each rank holds at most two shards in memory."""


def prepare(
    documents: Iterable[str],
    url: str,
    *,
    storage_options: Mapping[str, Any] | None = None,
    shard_tokens: int = DEFAULT_SHARD_TOKENS,
) -> dict[str, Any]:
    """Tokenize documents (each followed by EOS) into uint16 shards under `url`; return the index."""
    lake = Lake.open(url, storage_options)
    shards: list[dict[str, Any]] = []
    pending: list[int] = []

    def flush(tokens: list[int]) -> None:
        name = f"shard-{len(shards):05d}.bin"
        lake.write_bytes(np.asarray(tokens, dtype=TOKEN_DTYPE).tobytes(), name)
        shards.append({"file": name, "tokens": len(tokens)})

    for document in documents:
        pending.extend(encode(document, add_eos=True))
        while len(pending) >= shard_tokens:
            flush(pending[:shard_tokens])
            del pending[:shard_tokens]
    if pending:
        flush(pending)
    index = {"dtype": np.dtype(TOKEN_DTYPE).name, "vocab_size": VOCAB_SIZE, "eos_id": EOS_ID, "shards": shards}
    lake.write_bytes(json.dumps(index, indent=2).encode(), INDEX_FILE)
    return index


def prepare_tiny_corpus(url: str, *, storage_options: Mapping[str, Any] | None = None) -> None:
    """The corpus shipped with the repo as one document per paragraph, unless `url` already holds a dataset."""
    if Lake.open(url, storage_options).exists(INDEX_FILE):
        return
    prepare(paragraphs(TINY_CORPUS.read_text(encoding="utf-8")), url, storage_options=storage_options)


def paragraphs(text: str) -> list[str]:
    """The documents of a text file written like the tiny corpus: paragraphs separated by blank lines."""
    return [p.strip() for p in text.split("\n\n") if p.strip()]


@functools.lru_cache(maxsize=8)
def _permutation(seed: int, epoch: int, stream: int, size: int) -> np.ndarray:
    return np.random.default_rng([seed, epoch, stream]).permutation(size)


class TokenBatches:
    """Batches of (inputs, targets) [batch_size, seq_len] int64 for one rank; resumable via state_dict()."""

    def __init__(
        self,
        url: str,
        *,
        seq_len: int,
        batch_size: int,
        rank: int = 0,
        world_size: int = 1,
        seed: int = 0,
        storage_options: Mapping[str, Any] | None = None,
    ):
        self.lake = Lake.open(url, storage_options)
        if not self.lake.exists(INDEX_FILE):
            raise FileNotFoundError(f"no dataset at {url} ({INDEX_FILE} missing); write one with data.prepare")
        index = json.loads(self.lake.read_bytes(INDEX_FILE))
        self.seq_len = seq_len
        self.batch_size = batch_size
        self.rank = rank
        self.world_size = world_size
        self.seed = seed
        self.shard_files = [s["file"] for s in index["shards"]]
        self.windows_per_shard = [(s["tokens"] - 1) // seq_len for s in index["shards"]]
        self.samples_per_epoch = sum(self.windows_per_shard)
        if self.samples_per_epoch == 0:
            raise ValueError(f"dataset at {url} has no window of {seq_len + 1} tokens; lower seq_len")
        self.samples_seen = 0
        self._shards: dict[int, np.ndarray] = {}

    def __iter__(self) -> TokenBatches:
        return self

    def __next__(self) -> tuple[torch.Tensor, torch.Tensor]:
        first = self.samples_seen + self.rank * self.batch_size
        rows = np.stack([self._sample(first + i) for i in range(self.batch_size)]).astype(np.int64)
        self.samples_seen += self.world_size * self.batch_size
        windows = torch.from_numpy(rows)
        return windows[:, :-1], windows[:, 1:]

    def state_dict(self) -> dict[str, int]:
        return {"samples_seen": self.samples_seen}

    def load_state_dict(self, state: Mapping[str, int]) -> None:
        self.samples_seen = int(state["samples_seen"])

    def _sample(self, position: int) -> np.ndarray:
        epoch, offset = divmod(position, self.samples_per_epoch)
        order = _permutation(self.seed, epoch, 0, len(self.shard_files))
        ends = np.cumsum([self.windows_per_shard[s] for s in order]).tolist()
        slot = bisect.bisect_right(ends, offset)
        shard = int(order[slot])
        within = offset - (ends[slot - 1] if slot else 0)
        window = int(_permutation(self.seed, epoch, shard + 1, self.windows_per_shard[shard])[within])
        start = window * self.seq_len
        return self._tokens(shard)[start : start + self.seq_len + 1]

    def _tokens(self, shard: int) -> np.ndarray:
        if shard not in self._shards:
            if len(self._shards) >= 2:
                del self._shards[next(iter(self._shards))]
            self._shards[shard] = np.frombuffer(self.lake.read_bytes(self.shard_files[shard]), dtype=TOKEN_DTYPE)
        return self._shards[shard]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Tokenize text files (one document each) into shards in the lake.")
    parser.add_argument("inputs", nargs="+", type=Path, help="UTF-8 text files")
    parser.add_argument("--out", required=True, help="dataset URL, e.g. s3://lake/datasets/web-2026")
    parser.add_argument("--endpoint-url", help="object-store endpoint of --out: S3-compatible, fake-gcs, Azurite")
    parser.add_argument("--shard-tokens", type=int, default=DEFAULT_SHARD_TOKENS)
    args = parser.parse_args(argv)
    index = prepare(
        (p.read_text(encoding="utf-8") for p in args.inputs),
        args.out,
        storage_options=storage_options(args.out, args.endpoint_url),
        shard_tokens=args.shard_tokens,
    )
    print(json.dumps({"shards": len(index["shards"]), "tokens": sum(s["tokens"] for s in index["shards"])}))


if __name__ == "__main__":
    main()
