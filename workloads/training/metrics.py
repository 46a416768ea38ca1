"""Model FLOPs utilisation: achieved training FLOP/s over the accelerators' dense bf16 peak."""

from __future__ import annotations

import torch

PEAK_BF16_DENSE_FLOPS: tuple[tuple[str, float], ...] = (
    # (substring of torch.cuda.get_device_name(), dense bf16 FLOP/s per GPU), first match wins, so the more
    # specific names come first. NVIDIA datasheets (H100/H200, A100, L4, L40S), checked 2026-11; vendor
    # figures "with sparsity" are twice these.
    ("H100 PCIe", 756e12),
    ("H100 NVL", 835e12),
    ("H100", 989e12),  # SXM5
    ("H200", 989e12),
    ("A100", 312e12),
    ("L40S", 362e12),
    ("L4", 121e12),
)


def peak_flops_of(device_name: str) -> float | None:
    """Dense bf16 peak of a GPU by its name; None when the GPU is not in the table."""
    return next((peak for key, peak in PEAK_BF16_DENSE_FLOPS if key in device_name), None)


def device_peak_flops(device: torch.device) -> float | None:
    """None on CPU: MFU is only reported against an accelerator's peak."""
    if device.type != "cuda":
        return None
    return peak_flops_of(torch.cuda.get_device_name(device))


def mfu(tokens_per_s: float, flops_per_token: float, peak_flops: float | None, devices: int) -> float | None:
    """tokens_per_s counts the tokens of all `devices` together."""
    if peak_flops is None:
        return None
    return tokens_per_s * flops_per_token / (peak_flops * devices)
