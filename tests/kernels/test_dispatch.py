"""The dispatcher: env override, forced modes, CPU fallback, lazy triton import."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest
import torch

import kernels
from kernels import dispatch
from kernels.gap_attention import gap_attention, gap_attention_reference
from kernels.gap_head import gap_head, gap_head_reference
from tests.kernels.util import DEVICES, close, gen, randn

ROOT = Path(__file__).resolve().parents[2]


def test_mode_comes_from_env_and_set_mode_wins(monkeypatch):
    monkeypatch.delenv(dispatch.ENV_VAR, raising=False)
    assert dispatch.mode() == "auto"
    monkeypatch.setenv(dispatch.ENV_VAR, "Reference")
    assert dispatch.mode() == "reference"
    with dispatch.forced("triton"):
        assert dispatch.mode() == "triton"
        with dispatch.forced("auto"):
            assert dispatch.mode() == "auto"
        assert dispatch.mode() == "triton"
    assert dispatch.mode() == "reference"
    dispatch.set_mode("auto")
    try:
        assert dispatch.mode() == "auto"
    finally:
        dispatch.set_mode(None)
    assert dispatch.mode() == "reference"
    monkeypatch.setenv(dispatch.ENV_VAR, "fastest")
    with pytest.raises(ValueError, match="kernel mode"):
        dispatch.mode()
    with pytest.raises(ValueError):
        dispatch.set_mode("cuda")


def test_auto_and_reference_keep_cpu_tensors_on_the_reference():
    x = torch.zeros(2, 3)
    for chosen in ("auto", "reference"):
        with dispatch.forced(chosen):
            assert not dispatch.use_kernel(x)


def test_forced_triton_on_cpu_without_interpreter_is_a_plain_error(monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    with dispatch.forced("triton"), pytest.raises(RuntimeError, match="TRITON_INTERPRET=1"):
        dispatch.use_kernel(torch.zeros(2))


class _ClaimsCuda(torch.Tensor):
    """A CPU tensor that says it is on CUDA: the dispatcher's view of a GPU this machine lacks."""

    @property
    def is_cuda(self) -> bool:
        return True


def test_auto_mode_falls_back_for_good_when_a_kernel_fails(monkeypatch):
    """run_op with a kernel that cannot run (as when triton cannot compile for a GPU)."""
    monkeypatch.setattr(dispatch, "_broken", {})  # a fresh record, restored after the test
    calls = []

    def failing_kernel():
        calls.append("kernel")
        raise RuntimeError("no compiler for this device")

    def reference():
        calls.append("reference")
        return 7

    def bad_shapes():
        raise ValueError("shape")

    x = torch.zeros(2).as_subclass(_ClaimsCuda)  # lets auto mode pick the kernel without a GPU
    if not dispatch.triton_available():
        pytest.skip("auto mode only tries kernels when triton imports")
    with dispatch.forced("auto"):
        with pytest.raises(ValueError):
            dispatch.run_op("op", bad_shapes, reference, x)
        with pytest.warns(RuntimeWarning, match="op Triton kernel failed"):
            assert dispatch.run_op("op", failing_kernel, reference, x) == 7
        assert dispatch.run_op("op", failing_kernel, reference, x) == 7
    assert calls == ["kernel", "reference", "reference"]
    assert "no compiler" in dispatch.status()["fallbacks"]["op"]
    with dispatch.forced("triton"), pytest.raises(RuntimeError, match="no compiler"):
        dispatch.run_op("op", failing_kernel, reference, x)


@pytest.mark.parametrize("device", DEVICES)
def test_forced_triton_runs_the_kernels_through_the_public_ops(device):
    g = gen(0)
    hidden, norm_w = randn(3, 32, g=g, device=device), 1.0 + randn(32, g=g, scale=0.1, device=device)
    head_w = randn(200, 32, g=g, device=device)
    banned = torch.tensor([0, 199], device=device)
    q, k, v = (randn(1, 4, 3, 16, g=g, device=device), randn(1, 2, 20, 16, g=g, device=device),
               randn(1, 2, 20, 16, g=g, device=device))
    mask = (torch.rand(1, 20, generator=g) > 0.3).to(device)
    with dispatch.forced("triton"):
        out = gap_head(hidden, norm_w, 1e-5, head_w, banned)
        att = gap_attention(q, k, v, mask)
    assert "kernels.gap_head_kernel" in sys.modules and "kernels.gap_attention_kernel" in sys.modules
    ref = gap_head_reference(hidden, norm_w, 1e-5, head_w, banned)
    assert out.top1_id.tolist() == ref.top1_id.tolist()
    for field in ("top1_logit", "top2_logit", "lse", "entropy", "normed"):
        close(getattr(out, field), getattr(ref, field), torch.float32, field)
    close(att, gap_attention_reference(q, k, v, mask), torch.float32, "attention")


def test_only_the_kernel_modules_import_triton():
    """`import kernels` must not import triton: triton.jit fixes interpreter-or-compiled when the
    kernel modules are imported, so they load lazily, on first kernel use (see conftest.py).
    Checked on the sources (a fresh process would cost seconds of torch import)."""
    eager = ["__init__.py", "dispatch.py", "gap_head.py", "gap_attention.py", "bench.py"]
    for name in eager:
        tree = ast.parse((ROOT / "kernels" / name).read_text())
        for node in tree.body:  # module level only: imports inside functions are lazy
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            assert not any(n.split(".")[0] == "triton" or n.endswith("_kernel") for n in names), name
    assert kernels.mode() in dispatch.MODES
