"""Parity: the gap_head Triton kernel vs its torch reference (odd shapes, dtypes, banned ids)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from kernels.gap_head import GapHeadOut, gap_head_reference, rms_norm, stats_from_logits
from tests.kernels.util import DEVICES, TOL, close, gen, randn

EPS = 1e-6


def make(n: int, d: int, v: int, dtype: torch.dtype, device: str, seed: int = 0):
    g = gen(seed)
    hidden = randn(n, d, g=g, scale=2.0, dtype=dtype, device=device)
    norm_w = (1.0 + randn(d, g=g, scale=0.1)).to(dtype).to(device)
    # Logits with a spread of a few units, like a trained head: peaked but not one-hot softmaxes.
    head_w = randn(v, d, g=g, scale=3.0 / d**0.5, dtype=dtype, device=device)
    return hidden, norm_w, head_w


def oracle(hidden, norm_w, head_w, banned) -> GapHeadOut:
    """The kernel's math in fp32 from the reference's rounded inputs (fp32 logits, no bf16 logits)."""
    normed = rms_norm(hidden, norm_w, EPS)
    logits = F.linear(normed.to(head_w.dtype).float(), head_w.float())  # (N, V)
    return stats_from_logits(logits, banned, normed)


def check(out: GapHeadOut, ref: GapHeadOut, head_w, dtype, what: str) -> None:
    assert out.top1_id.dtype == torch.long and out.lse.dtype == torch.float32
    assert out.normed.shape == ref.normed.shape and out.normed.dtype == ref.normed.dtype
    close(out.normed, ref.normed, dtype, f"{what} normed")
    for field in ("top1_logit", "top2_logit", "lse", "entropy"):
        close(getattr(out, field), getattr(ref, field), dtype, f"{what} {field}")
    # Ids must agree unless the two candidates' logits are within the dtype's tolerance (a tie).
    z = F.linear(ref.normed.to(head_w.dtype).float(), head_w.float()).cpu()  # (N, V)
    ids_k, ids_r = out.top1_id.cpu(), ref.top1_id.cpu()
    gap = (z.gather(1, ids_r[:, None]) - z.gather(1, ids_k[:, None])).abs()[:, 0]
    assert bool(((ids_k == ids_r) | (gap <= TOL[dtype][0])).all()), f"{what} top1_id"


def run(n, d, v, dtype, device, banned=None, **launch):
    from kernels.gap_head_kernel import gap_head_triton

    hidden, norm_w, head_w = make(n, d, v, dtype, device)
    ban = None if banned is None else torch.tensor(banned, dtype=torch.long, device=device)
    out = gap_head_triton(hidden, norm_w, EPS, head_w, ban, **launch)
    return out, (hidden, norm_w, head_w, ban)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("n,d,v,block_v,block_d", [
    (1, 48, 123, 32, 64),  # 123 = 3 full chunks + 27
    (5, 64, 1000, 128, 64),  # 1000 = 7 full chunks + 104
    (37, 48, 1000, 64, 32),  # rows > 16: a ragged row block; D = 32 + 16: a ragged D slice
    (5, 80, 300, 128, 64),  # the default blocks with D > BLOCK_D (real models loop over D)
])
def test_fp32_matches_reference(device, n, d, v, block_v, block_d):
    out, args = run(n, d, v, torch.float32, device, banned=[0, 7, v - 1], block_v=block_v,
                    block_d=block_d)
    ref = gap_head_reference(*args[:2], EPS, *args[2:])
    check(out, ref, args[2], torch.float32, f"N={n} D={d} V={v}")


@pytest.mark.parametrize("device", DEVICES)
def test_large_vocab_many_chunks(device):
    # 16 chunks of 512 keep the interpreter quick; the GPU variant uses the default 128 (64 chunks).
    block_v = 512 if device == "cpu" else 128
    out, args = run(5, 64, 8192, torch.float32, device, banned=[4096], block_v=block_v)
    check(out, gap_head_reference(*args[:2], EPS, *args[2:]), args[2], torch.float32, "V=8192")


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_16bit_matches_fp32_oracle_and_reference(device, dtype):
    out, args = run(5, 64, 1000, dtype, device, banned=[3], block_v=128)
    # Tight: the same math in fp32 logits. Loose: the reference, whose logits are 16-bit rounded.
    check(out, oracle(*args[:2], args[2], args[3]), args[2], dtype, f"{dtype} oracle")
    ref = gap_head_reference(*args[:2], EPS, *args[2:])
    atol, rtol = 4 * TOL[dtype][0], 4 * TOL[dtype][1]
    for field in ("top1_logit", "lse", "entropy"):
        torch.testing.assert_close(getattr(out, field).cpu(), getattr(ref, field).cpu(),
                                   atol=atol, rtol=rtol)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("splits", [1, 100])
def test_any_split_count_gives_the_same_statistics(device, splits):
    out, args = run(5, 48, 1000, torch.float32, device, banned=[1], block_v=64, num_splits=splits)
    check(out, gap_head_reference(*args[:2], EPS, *args[2:]), args[2], torch.float32, f"S={splits}")


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("banned", [None, [], [5, 5, 122], list(range(0, 123, 2))])
def test_banned_ids_are_excluded(device, banned):
    out, args = run(5, 48, 123, torch.float32, device, banned=banned, block_v=32)
    ref = gap_head_reference(*args[:2], EPS, *args[2:])
    check(out, ref, args[2], torch.float32, f"banned={banned}")
    if banned:
        assert not set(out.top1_id.tolist()) & set(banned)


@pytest.mark.parametrize("device", DEVICES)
def test_one_allowed_id_is_certain(device):
    v, keep = 123, 77
    out, args = run(5, 48, v, torch.float32, device, banned=[i for i in range(v) if i != keep],
                    block_v=32)
    assert out.top1_id.tolist() == [keep] * 5
    assert torch.isneginf(out.top2_logit).all()
    close(out.lse, out.top1_logit, torch.float32, "lse of a single id")
    close(out.entropy, torch.zeros(5), torch.float32, "entropy of a single id")


@pytest.mark.parametrize("device", DEVICES)
def test_strided_rows_and_probabilities(device):
    """Gap rows picked out of a (T, D) hidden buffer with a row stride; p1/margin as the caller uses."""
    from kernels.gap_head_kernel import gap_head_triton

    hidden, norm_w, head_w = make(20, 64, 300, torch.float32, device)
    rows = hidden[3:17:2]  # (7, D) non-contiguous view
    out = gap_head_triton(rows, norm_w, EPS, head_w, None, block_v=64)
    ref = gap_head_reference(rows.contiguous(), norm_w, EPS, head_w, None)
    check(out, ref, head_w, torch.float32, "strided")
    p1 = torch.exp(out.top1_logit - out.lse)
    margin = p1 - torch.exp(out.top2_logit - out.lse)
    probs = torch.softmax(F.linear(ref.normed, head_w).float(), dim=-1).cpu()  # (7, V)
    top = probs.topk(2, dim=-1).values
    close(p1, top[:, 0], torch.float32, "p1")
    close(margin, top[:, 0] - top[:, 1], torch.float32, "margin")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA")
@pytest.mark.parametrize("d,v", [(896, 151936), (3584, 152064)])  # Qwen2-0.5B, Dream-7B heads
def test_model_shaped_head_on_gpu(d, v):
    """Default launch parameters (128-id chunks, 64-wide D slices, automatic split count), bf16."""
    out, args = run(32, d, v, torch.bfloat16, "cuda", banned=[v - 1])
    check(out, oracle(*args[:2], args[2], args[3]), args[2], torch.bfloat16, f"D={d} V={v}")
