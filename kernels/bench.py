"""Kernel micro-benchmark: reference vs Triton kernel, milliseconds per call, in one run.

Contract: bench_kernels(device, repeats=...) -> dict
    {"device": str, "cases": [{"op", "shape", "dtype", "reference_ms", "kernel_ms", "speedup",
                               "bytes", "kernel_gbps", "max_abs_diff"}]}
On CUDA (with triton) both paths run on model-shaped inputs (Qwen2-0.5B and Dream-7B heads and
attention at growing context lengths, bf16); kernel_gbps = bytes of weights/KV read / kernel time,
to compare with the device's bandwidth. On CPU only the reference runs (kernel fields are None),
on shapes of the size of the embedded model. `python -m kernels.bench [device]` prints the JSON.
Inputs are random: this measures speed, the parity tests measure correctness.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable

import torch

from kernels.dispatch import forced, triton_available
from kernels.gap_attention import gap_attention
from kernels.gap_head import gap_head

HEAD_CUDA = {"qwen0.5b": (32, 896, 151936), "dream7b": (32, 3584, 152064)}  # (N, D, V)
ATTN_CUDA = {"qwen0.5b": (14, 2, 64), "dream7b": (28, 4, 128)}  # (H, Hkv, Dh)
CONTEXTS_CUDA = (512, 2048, 8192, 16384)
HEAD_CPU = {"embedded": (16, 256, 8192)}
ATTN_CPU = {"embedded": (8, 2, 32)}
CONTEXTS_CPU = (512, 2048)
GAP = 32  # gap queries per step


def _time_ms(fn: Callable[[], object], device: torch.device, repeats: int) -> float:
    """Median milliseconds per call after warm-up (which also compiles the kernel)."""
    for _ in range(3):
        fn()
    samples = []
    for _ in range(repeats):
        if device.type == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            torch.cuda.synchronize(device)
            samples.append(start.elapsed_time(end))
        else:
            t0 = time.perf_counter()
            fn()
            samples.append((time.perf_counter() - t0) * 1e3)
    samples.sort()
    return samples[len(samples) // 2]


def _case(op: str, shape: dict, dtype: torch.dtype, nbytes: int, run: Callable[[], torch.Tensor],
          device: torch.device, with_kernel: bool, repeats: int) -> dict:
    with forced("reference"):
        ref_ms = _time_ms(run, device, repeats)
        ref_out = run()
    row = {"op": op, "shape": shape, "dtype": str(dtype).removeprefix("torch."),
           "reference_ms": round(ref_ms, 4), "kernel_ms": None, "speedup": None, "bytes": nbytes,
           "kernel_gbps": None, "max_abs_diff": None}
    if with_kernel:
        with forced("triton"):
            k_ms = _time_ms(run, device, repeats)
            k_out = run()
        row.update(kernel_ms=round(k_ms, 4), speedup=round(ref_ms / k_ms, 2),
                   kernel_gbps=round(nbytes / k_ms / 1e6, 1),
                   max_abs_diff=float((k_out.float() - ref_out.float()).abs().max()))
    return row


def bench_kernels(device: str | torch.device = "cuda", repeats: int = 20) -> dict:
    dev = torch.device(device)
    on_cuda = dev.type == "cuda"
    with_kernel = on_cuda and triton_available()
    dtype = torch.bfloat16 if on_cuda else torch.float32
    g = torch.Generator(device="cpu").manual_seed(0)

    def rand(*shape: int, scale: float = 1.0) -> torch.Tensor:
        return (torch.randn(*shape, generator=g) * scale).to(dev, dtype)

    cases = []
    for name, (n, d, v) in (HEAD_CUDA if on_cuda else HEAD_CPU).items():
        hidden, norm_w, head_w = rand(n, d), rand(d, scale=0.1) + 1, rand(v, d, scale=d**-0.5)
        banned = torch.tensor([v - 1], device=dev)

        def head(hidden=hidden, norm_w=norm_w, head_w=head_w, banned=banned) -> torch.Tensor:
            return gap_head(hidden, norm_w, 1e-6, head_w, banned).lse

        cases.append(_case("gap_head", {"model": name, "N": n, "D": d, "V": v}, dtype,
                           head_w.numel() * head_w.element_size(), head, dev, with_kernel, repeats))
    for name, (h, hkv, dh) in (ATTN_CUDA if on_cuda else ATTN_CPU).items():
        for t in CONTEXTS_CUDA if on_cuda else CONTEXTS_CPU:
            q, k, v = rand(1, h, GAP, dh), rand(1, hkv, t, dh), rand(1, hkv, t, dh)
            mask = torch.ones(1, t, dtype=torch.bool, device=dev)

            def attn(q=q, k=k, v=v, mask=mask) -> torch.Tensor:
                return gap_attention(q, k, v, mask)

            cases.append(_case("gap_attention", {"model": name, "H": h, "Hkv": hkv, "Dh": dh,
                                                 "Nq": GAP, "T": t}, dtype,
                               2 * k.numel() * k.element_size(), attn, dev, with_kernel, repeats))
    return {"device": torch.cuda.get_device_name(dev) if on_cuda else "cpu", "cases": cases}


if __name__ == "__main__":
    print(json.dumps(bench_kernels(sys.argv[1] if len(sys.argv) > 1 else "cpu"), indent=1))
