"""Shared helpers for the kernel parity tests: devices, per-dtype tolerances, seeded tensors."""

from __future__ import annotations

import pytest
import torch

from kernels.dispatch import interpreter_enabled, triton_available

HAS_CUDA = torch.cuda.is_available()
CPU_KERNELS = triton_available() and interpreter_enabled()

# The CPU variant needs the Triton interpreter; the CUDA variant needs a GPU.
DEVICES = [
    pytest.param("cpu", marks=pytest.mark.skipif(
        not CPU_KERNELS, reason="CPU kernel runs need TRITON_INTERPRET=1 (set without CUDA)")),
    pytest.param("cuda", marks=[pytest.mark.gpu, pytest.mark.skipif(not HAS_CUDA, reason="no CUDA")]),
]

# (atol, rtol) per dtype: fp32 is exact math up to summation order; 16-bit inputs are rounded
# once more on the way into the second matmul (attention's p) or into the stored outputs.
TOL = {
    torch.float32: (1e-4, 1e-4),
    torch.float16: (1e-2, 1e-2),
    torch.bfloat16: (4e-2, 2e-2),
}

DTYPES = [torch.float32, torch.float16, torch.bfloat16]


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def randn(*shape: int, g: torch.Generator, scale: float = 1.0, dtype=torch.float32,
          device: str = "cpu") -> torch.Tensor:
    """Seeded normal values made on the CPU (same numbers on every device), then moved."""
    return (torch.randn(*shape, generator=g) * scale).to(dtype).to(device)


def close(actual: torch.Tensor, expected: torch.Tensor, dtype: torch.dtype, what: str) -> None:
    atol, rtol = TOL[dtype]
    torch.testing.assert_close(actual.float().cpu(), expected.float().cpu(), atol=atol, rtol=rtol,
                               msg=lambda m: f"{what}: {m}")
