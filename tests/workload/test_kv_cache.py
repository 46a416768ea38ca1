"""Incremental decoding with the KV cache: the logits of every new token equal a full forward over its prefix."""

from __future__ import annotations

import pytest
import torch

from workloads.shared.model import RECIPES, KVCache, Transformer

CONFIG = RECIPES["tiny"]


def model(scale: float | None = None) -> Transformer:
    """The tiny recipe; with `scale`, weights large enough that every logit depends on the whole prefix."""
    torch.manual_seed(0)
    transformer = Transformer(CONFIG)
    if scale is not None:
        with torch.no_grad():
            for parameter in transformer.parameters():
                if parameter.dim() == 2:
                    parameter.normal_(0, scale / parameter.shape[1] ** 0.5)
    return transformer.eval()


def right_padded(sequences: list[torch.Tensor], lengths: list[int]) -> torch.Tensor:
    tokens = torch.zeros(len(sequences), max(lengths), dtype=torch.long)
    for row, (sequence, length) in enumerate(zip(sequences, lengths, strict=True)):
        tokens[row, :length] = sequence[:length]
    return tokens


def close(actual: torch.Tensor, expected: torch.Tensor) -> None:
    torch.testing.assert_close(actual, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("scale", [None, 1.5])
@torch.inference_mode()
def test_cached_decoding_of_a_mixed_length_batch_equals_a_full_forward(scale):
    transformer = model(scale)
    generator = torch.Generator().manual_seed(1)
    prompt_lengths = [3, 9, 1, 6]
    sequences = [torch.randint(0, CONFIG.vocab_size, (40,), generator=generator) for _ in prompt_lengths]
    cache = transformer.new_cache(len(sequences), 40)

    prefilled = transformer(right_padded(sequences, prompt_lengths), cache=cache)
    cache.lengths = torch.tensor(prompt_lengths)
    for row, length in enumerate(prompt_lengths):
        close(prefilled[row, :length], transformer(sequences[row][None, :length])[0])

    for _ in range(12):  # one token per row, every row at its own position
        positions = cache.lengths.clone()
        fed = torch.stack([s[p] for s, p in zip(sequences, positions.tolist(), strict=True)])[:, None]
        logits = transformer(fed, cache=cache)
        assert cache.lengths.tolist() == (positions + 1).tolist()
        for row, position in enumerate(positions.tolist()):
            close(logits[row, -1], transformer(sequences[row][None, : position + 1])[0, -1])

    # Several tokens at once, from explicit positions (here: rewinding row 1 by 2 slots).
    positions = cache.lengths.clone()
    positions[1] -= 2
    fed = torch.stack([s[p : p + 3] for s, p in zip(sequences, positions.tolist(), strict=True)])
    logits = transformer(fed, cache=cache, positions=positions)
    assert cache.lengths.tolist() == (positions + 3).tolist()
    for row, position in enumerate(positions.tolist()):
        close(logits[row], transformer(sequences[row][None, : position + 3])[0, position:])


@torch.inference_mode()
def test_the_prefill_is_the_plain_forward_bit_for_bit():
    transformer = model()
    tokens = torch.randint(0, CONFIG.vocab_size, (3, 17), generator=torch.Generator().manual_seed(2))
    cache = transformer.new_cache(3, 32)
    assert torch.equal(transformer(tokens, cache=cache), transformer(tokens))
    assert cache.lengths.tolist() == [17, 17, 17]


@torch.inference_mode()
def test_selecting_rows_keeps_their_keys_values_and_lengths():
    transformer = model(1.5)
    sequences = [
        torch.randint(0, CONFIG.vocab_size, (20,), generator=torch.Generator().manual_seed(s)) for s in range(3)
    ]
    lengths = [4, 7, 2]
    cache = transformer.new_cache(3, 20)
    transformer(right_padded(sequences, lengths), cache=cache)
    cache.lengths = torch.tensor(lengths)
    cache.select(torch.tensor([2, 0]))
    assert len(cache) == 2
    assert cache.lengths.tolist() == [2, 4]
    logits = transformer(torch.stack([sequences[2][2:3], sequences[0][4:5]]), cache=cache)
    close(logits[0, -1], transformer(sequences[2][None, :3])[0, -1])
    close(logits[1, -1], transformer(sequences[0][None, :5])[0, -1])


def test_misuse_is_refused():
    transformer = model()
    tokens = torch.zeros(2, 4, dtype=torch.long)
    with pytest.raises(ValueError, match="need a cache"):
        transformer(tokens, positions=torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match="do not fit"):
        transformer(tokens, cache=transformer.new_cache(2, 3))
    with pytest.raises(ValueError, match="rows"):
        transformer(tokens, cache=transformer.new_cache(3, 8))
    with pytest.raises(ValueError, match="exceeds max_seq_len"):
        KVCache(CONFIG, 1, CONFIG.max_seq_len + 1)
