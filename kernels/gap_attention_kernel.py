"""Triton kernel for kernels.gap_attention: flash-style attention of gap queries over cached keys.
Imported lazily (it imports triton); the math is in kernels/gap_attention.py.

Decomposition. A gap step has few queries (tens) and many keys (the whole cached context), so:
  - the G query heads that share one kv head are stacked into one row block of G * Nq rows
    (row r -> head j * G + r // Nq, query r % Nq): each K/V tile is loaded once per group, not G
    times, which is the point of grouped-query attention for a memory-bound step;
  - the keys are split into S ranges (flash-decoding) so that B * Hkv programs become
    B * Hkv * S and fill the GPU even for batch 1.
Program (m, b*Hkv + j, s) runs the online softmax over its key range in BLOCK_N tiles:
    m' = max(m, max_t s_t),  a = exp(m - m'),  l' = a l + sum_t exp(s_t - m'),
    acc' = a acc + sum_t exp(s_t - m') v_t
and writes o = acc / l (0 when l = 0: every key masked) plus (m, l) to fp32 workspaces.
A second tiny kernel merges the S partials: w_s = l_s exp(m_s - max m), out = sum w_s o_s / sum w_s,
and writes q's dtype (one launch, also when S = 1, where it is just the cast).

constexpr choices:
  BLOCK_M  >= 16 (tl.dot tile) and <= 64 rows: acc is BLOCK_M x BLOCK_D fp32 in registers.
  BLOCK_N  = 64 keys per tile on GPU (tests pass smaller ones so T=17/130 leave ragged tiles).
  BLOCK_D  = next power of two >= Dh (Dh = 48 is masked up to 64).
  HAS_MASK whether key_mask was given (no dummy loads without one).
  PRECISION "ieee" for fp32 (parity at 1e-4), "tf32" (ignored for 16-bit inputs) otherwise.
  UPCAST   only under the CPU interpreter with bf16, whose tl.dot gets bf16 wrong (triton 3.9);
           upcasting q/k/v tiles to fp32 is exact, and p is rounded to v's dtype first as on GPU.
"""

from __future__ import annotations

import math

import torch
import triton
import triton.language as tl

from kernels.gap_attention import check_shapes


@triton.jit
def _gap_attention_partial(
    q_ptr, k_ptr, v_ptr, mask_ptr, o_ptr, ml_ptr,
    NQ, T, G, HKV, H, B, DH, scale, blocks_per_split,
    sq_b, sq_h, sq_n, sk_b, sk_h, sk_t, sv_b, sv_h, sv_t, sm_b,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr,
    HAS_MASK: tl.constexpr, PRECISION: tl.constexpr, UPCAST: tl.constexpr,
):
    pid_m = tl.program_id(0)
    pid_bj = tl.program_id(1)
    pid_s = tl.program_id(2)
    b = pid_bj // HKV
    j = pid_bj % HKV
    rows = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)  # (BLOCK_M,) stacked (head, query) rows
    row_ok = rows < G * NQ
    head = j * G + rows // NQ
    qi = rows % NQ
    dcols = tl.arange(0, BLOCK_D)
    d_ok = dcols < DH

    q_off = b.to(tl.int64) * sq_b + head.to(tl.int64) * sq_h + qi.to(tl.int64) * sq_n
    q = tl.load(q_ptr + q_off[:, None] + dcols[None, :],
                mask=row_ok[:, None] & d_ok[None, :], other=0.0)  # (BLOCK_M, BLOCK_D)
    if UPCAST:
        q = q.to(tl.float32)
    k_base = k_ptr + b.to(tl.int64) * sk_b + j.to(tl.int64) * sk_h
    v_base = v_ptr + b.to(tl.int64) * sv_b + j.to(tl.int64) * sv_h

    neg_inf = float("-inf")
    m = tl.full((BLOCK_M,), neg_inf, tl.float32)
    l = tl.zeros((BLOCK_M,), dtype=tl.float32)
    acc = tl.zeros((BLOCK_M, BLOCK_D), dtype=tl.float32)
    kb_begin = pid_s * blocks_per_split
    kb_end = tl.minimum(kb_begin + blocks_per_split, tl.cdiv(T, BLOCK_N))
    for kb in range(kb_begin, kb_end):
        ts = kb * BLOCK_N + tl.arange(0, BLOCK_N)  # (BLOCK_N,) key positions
        in_range = ts < T
        live = in_range
        if HAS_MASK:
            keep = tl.load(mask_ptr + b.to(tl.int64) * sm_b + ts, mask=in_range, other=0)
            live = live & (keep != 0)
        ts64 = ts.to(tl.int64)
        k = tl.load(k_base + ts64[None, :] * sk_t + dcols[:, None],
                    mask=in_range[None, :] & d_ok[:, None], other=0.0)  # (BLOCK_D, BLOCK_N)
        v = tl.load(v_base + ts64[:, None] * sv_t + dcols[None, :],
                    mask=in_range[:, None] & d_ok[None, :], other=0.0)  # (BLOCK_N, BLOCK_D)
        if UPCAST:
            k = k.to(tl.float32)
        s = tl.dot(q, k, input_precision=PRECISION) * scale  # (BLOCK_M, BLOCK_N)
        s = tl.where(live[None, :], s, neg_inf)
        m_new = tl.maximum(m, tl.max(s, axis=1))
        # While every key so far is masked m is -inf; shift by 0 then to avoid inf - inf = nan.
        m_safe = tl.where(m_new == neg_inf, 0.0, m_new)
        p = tl.exp(s - m_safe[:, None])  # 0 at masked keys
        alpha = tl.exp(m - m_safe)
        l = alpha * l + tl.sum(p, axis=1)
        p = p.to(v.dtype)  # the P @ V product runs in v's dtype, as flash attention does
        if UPCAST:
            p = p.to(tl.float32)
            v = v.to(tl.float32)
        acc = acc * alpha[:, None] + tl.dot(p, v, input_precision=PRECISION)
        m = m_new

    o = acc / tl.where(l > 0.0, l, 1.0)[:, None]  # rows with no live key stay 0
    # Workspaces: o (S, B, H, NQ, DH) and ml (2, S, B, H, NQ), both fp32 and contiguous.
    at = ((pid_s * B + b).to(tl.int64) * H + head) * NQ + qi  # (BLOCK_M,)
    tl.store(o_ptr + at[:, None] * DH + dcols[None, :], o, mask=row_ok[:, None] & d_ok[None, :])
    plane = B * H * NQ * tl.num_programs(2)
    tl.store(ml_ptr + at, m, mask=row_ok)
    tl.store(ml_ptr + plane + at, l, mask=row_ok)


def _num_splits(n_blocks: int, programs: int, device: torch.device) -> int:
    if device.type == "cuda":
        target = 2 * torch.cuda.get_device_properties(device).multi_processor_count
        # Keep at least 4 key tiles per split: fewer would spend more on the merge than it saves.
        return max(1, min(triton.cdiv(n_blocks, 4), target // max(1, programs)))
    return min(2, n_blocks)  # interpreter: two splits, so CPU tests exercise the merge too


@triton.jit
def _gap_attention_merge(
    o_ptr, ml_ptr, out_ptr, R, S, DH,
    BLOCK_R: tl.constexpr, BLOCK_D: tl.constexpr,
):
    """Fold the S key-range partials of R = B * H * NQ rows: weight w_s = l_s exp(m_s - max m),
    out = sum w_s o_s / sum w_s (0 when no split saw a live key); written in out's dtype."""
    rows = tl.program_id(0) * BLOCK_R + tl.arange(0, BLOCK_R)
    ok = rows < R
    dcols = tl.arange(0, BLOCK_D)
    ok2 = ok[:, None] & (dcols < DH)[None, :]
    neg_inf = float("-inf")
    big = tl.full((BLOCK_R,), neg_inf, tl.float32)
    w = tl.zeros((BLOCK_R,), dtype=tl.float32)
    acc = tl.zeros((BLOCK_R, BLOCK_D), dtype=tl.float32)
    for j in range(0, S):
        mj = tl.load(ml_ptr + j * R + rows, mask=ok, other=neg_inf)
        lj = tl.load(ml_ptr + (S + j) * R + rows, mask=ok, other=0.0)
        oj = tl.load(o_ptr + (j * R + rows.to(tl.int64))[:, None] * DH + dcols[None, :], mask=ok2,
                     other=0.0)
        big_new = tl.maximum(big, mj)
        safe = tl.where(big_new == neg_inf, 0.0, big_new)
        wj = lj * tl.exp(mj - safe)
        scale = tl.exp(big - safe)
        acc = acc * scale[:, None] + wj[:, None] * oj
        w = w * scale + wj
        big = big_new
    out = acc / tl.where(w > 0.0, w, 1.0)[:, None]
    tl.store(out_ptr + rows.to(tl.int64)[:, None] * DH + dcols[None, :], out, mask=ok2)


def gap_attention_triton(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                         key_mask: torch.Tensor | None = None, scale: float | None = None, *,
                         block_n: int = 64, num_splits: int | None = None) -> torch.Tensor:
    """Launch the kernel; block_n/num_splits are exposed for tests and tuning."""
    check_shapes(q, k, v, key_mask)
    q, k, v = (x if x.stride(-1) == 1 else x.contiguous() for x in (q, k, v))
    bsz, h, nq, dh = q.shape
    hkv, t = k.shape[1], k.shape[2]
    group = h // hkv
    dev = q.device
    if nq == 0 or t == 0:
        return torch.zeros_like(q)
    block_m = max(16, min(64, triton.next_power_of_2(group * nq)))
    row_blocks = triton.cdiv(group * nq, block_m)
    n_blocks = triton.cdiv(t, block_n)
    splits = num_splits or _num_splits(n_blocks, row_blocks * bsz * hkv, dev)
    per_split = triton.cdiv(n_blocks, max(1, min(splits, n_blocks)))
    splits = triton.cdiv(n_blocks, per_split)  # no empty trailing split
    o = torch.empty((splits, bsz, h, nq, dh), dtype=torch.float32, device=dev)
    ml = torch.empty((2, splits, bsz, h, nq), dtype=torch.float32, device=dev)
    mask = key_mask.contiguous() if key_mask is not None else q  # q: a pointer never read
    precision = "ieee" if q.dtype == torch.float32 else "tf32"
    _gap_attention_partial[(row_blocks, bsz * hkv, splits)](
        q, k, v, mask, o, ml,
        nq, t, group, hkv, h, bsz, dh, float(scale if scale is not None else 1.0 / math.sqrt(dh)),
        per_split,
        q.stride(0), q.stride(1), q.stride(2), k.stride(0), k.stride(1), k.stride(2),
        v.stride(0), v.stride(1), v.stride(2), mask.stride(0),
        BLOCK_M=block_m, BLOCK_N=block_n, BLOCK_D=max(16, triton.next_power_of_2(dh)),
        HAS_MASK=key_mask is not None, PRECISION=precision,
        UPCAST=dev.type == "cpu" and q.dtype == torch.bfloat16,
    )
    out = torch.empty((bsz, h, nq, dh), dtype=q.dtype, device=dev)
    rows = bsz * h * nq
    merge_rows = min(64, triton.next_power_of_2(rows))
    _gap_attention_merge[(triton.cdiv(rows, merge_rows),)](
        o, ml, out, rows, splits, dh, BLOCK_R=merge_rows, BLOCK_D=max(16, triton.next_power_of_2(dh)))
    return out
