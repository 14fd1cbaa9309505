"""Roofline figures for the benches: the bytes a denoising step must move and the time that takes
at the device's memory bandwidth (a lower bound for the small, memory-bound steps of serving).

step_bytes(model, context, rows): every weight read once, plus every layer's cached keys/values of
the context read once and the rows' keys/values written (the gap step); activations are ignored.
bandwidth_gbs(device): a table of known GPUs (vendor peak figures), else a measured copy rate.
"""
from __future__ import annotations

import time

import torch

# Peak HBM bandwidth, GB/s, by a substring of torch.cuda.get_device_name().
KNOWN_GBS = {"H200": 4800.0, "H100 SXM": 3350.0, "H100 NVL": 3900.0, "H100 PCIe": 2000.0, "H100": 3350.0,
             "A100-SXM4-80GB": 2039.0, "A100": 1555.0, "L40S": 864.0, "L4": 300.0, "RTX 4090": 1008.0}


def step_bytes(model, context: int, rows: int) -> int:
    arch = model.arch
    elt = torch.finfo(model.dtype).bits // 8
    weights = sum(p.numel() for p in model.parameters()) * elt
    kv_per_token = 2 * arch.num_layers * arch.num_kv_heads * arch.head_dim * elt
    return weights + kv_per_token * (context + rows)


def bandwidth_gbs(device: torch.device) -> tuple[float, str]:
    """(GB/s, where the figure comes from)."""
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        for key, gbs in KNOWN_GBS.items():
            if key in name:
                return gbs, f"peak of {name}"
    return measured_copy_gbs(device), "measured copy"


def measured_copy_gbs(device: torch.device, mib: int = 256, repeats: int = 5) -> float:
    """Read+write rate of a large tensor copy (the best of a few), GB/s."""
    src = torch.empty(mib * 2**20 // 4, dtype=torch.float32, device=device)
    dst = torch.empty_like(src)
    best = float("inf")
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        dst.copy_(src)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        best = min(best, time.perf_counter() - t0)
    return 2 * src.numel() * 4 / best / 1e9
