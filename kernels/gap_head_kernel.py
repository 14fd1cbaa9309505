"""Triton kernel for kernels.gap_head: RMSNorm + LM head + online-softmax statistics, logits never
materialised. Imported lazily (it imports triton); the math is in kernels/gap_head.py.

Decomposition. The grid is (row blocks, vocabulary splits). Program (r, s) owns BLOCK_N gap rows and
a contiguous range of vocabulary chunks of BLOCK_V ids. It
  1. computes rstd_n = 1/sqrt(mean(h_n^2) + eps) over D in BLOCK_D slices (split 0 also writes
     `normed`: the HF rounding order, fp32 normalise -> hidden dtype -> * weight),
  2. for each chunk: z = x @ W_chunk^T (fp32 accumulate; x re-normalised per D slice from the
     cache-resident hidden rows instead of holding all of x in registers), banned/out-of-range ids
     -> -inf, then folds the chunk into running statistics relative to the running max m:
        s = sum exp(z - m),   t = sum exp(z - m) (z - m),   top1 (value, id), top2 (value)
     When m grows to m' both rescale by a = exp(m - m'):  s' = a s,  t' = a (t + (m - m') s).
  3. writes its partial (m, s, t, top1, top1_id, top2) to a (S, N) workspace.
A second tiny kernel merges the S partials per row with the same rescaling rule and writes
lse = m + log s and entropy = log s - t / s (since H = lse - sum p z and sum p (z - m) = t / s).
Every row needs at least one allowed id (else lse = -inf and the entropy is NaN).
Splitting the vocabulary is what fills the GPU: a gap has tens of rows, the head has 10^5 columns.

constexpr choices:
  BLOCK_N  >= 16 because tl.dot needs 16-wide tiles; at most 64 (a gap is short; more rows would
           spill registers: acc is BLOCK_N x BLOCK_V fp32).
  BLOCK_V  = 128 vocabulary ids per chunk: one (BLOCK_D x 128) weight tile per D slice keeps the
           loads coalesced along D and the accumulator at <= 32 KB.
  BLOCK_D  = 64: D slice per dot; D need not be a multiple (masked).
  BLOCK_K  = next power of two >= number of banned ids (compare-all: K is tiny, e.g. the mask id).
  PRECISION "ieee" for fp32 weights (tf32 would lose parity at 1e-4), "tf32" (ignored) otherwise.
  UPCAST   only under the CPU interpreter with bf16: its tl.dot gets bf16 wrong (triton 3.9), and
           bf16 -> fp32 before the dot is exact (bf16 products fit in fp32), so the math is unchanged.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from kernels.gap_head import GapHeadOut, check_shapes


@triton.jit
def _gap_head_partial(
    h_ptr, g_ptr, w_ptr, banned_ptr, normed_ptr, fpart_ptr, ipart_ptr,
    N, D, V, K, S, eps, chunks_per_split,
    stride_h, stride_w, stride_o,
    BLOCK_N: tl.constexpr, BLOCK_V: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_K: tl.constexpr,
    PRECISION: tl.constexpr, UPCAST: tl.constexpr,
):
    pid_n = tl.program_id(0)
    pid_s = tl.program_id(1)
    rows = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)  # (BLOCK_N,)
    row_ok = rows < N
    h_rows = h_ptr + rows.to(tl.int64)[:, None] * stride_h  # (BLOCK_N, 1) row pointers

    # 1. rstd per row.
    ss = tl.zeros((BLOCK_N,), dtype=tl.float32)
    for d0 in range(0, D, BLOCK_D):
        cols = d0 + tl.arange(0, BLOCK_D)
        h = tl.load(h_rows + cols[None, :], mask=row_ok[:, None] & (cols < D)[None, :], other=0.0)
        h = h.to(tl.float32)  # (BLOCK_N, BLOCK_D)
        ss += tl.sum(h * h, axis=1)
    rstd = 1.0 / tl.sqrt(ss / D + eps)  # (BLOCK_N,)

    if pid_s == 0:
        for d0 in range(0, D, BLOCK_D):
            cols = d0 + tl.arange(0, BLOCK_D)
            ok = row_ok[:, None] & (cols < D)[None, :]
            h = tl.load(h_rows + cols[None, :], mask=ok, other=0.0)
            g = tl.load(g_ptr + cols, mask=cols < D, other=0.0).to(tl.float32)
            x = (h.to(tl.float32) * rstd[:, None]).to(h.dtype).to(tl.float32) * g[None, :]
            tl.store(normed_ptr + rows.to(tl.int64)[:, None] * stride_o + cols[None, :], x, mask=ok)

    # 2. stream this split's vocabulary chunks.
    n_chunks = tl.cdiv(V, BLOCK_V)
    c_begin = pid_s * chunks_per_split
    c_end = tl.minimum(c_begin + chunks_per_split, n_chunks)
    neg_inf = float("-inf")
    m = tl.full((BLOCK_N,), neg_inf, tl.float32)
    s = tl.zeros((BLOCK_N,), dtype=tl.float32)
    t = tl.zeros((BLOCK_N,), dtype=tl.float32)
    top1 = tl.full((BLOCK_N,), neg_inf, tl.float32)
    top2 = tl.full((BLOCK_N,), neg_inf, tl.float32)
    top1_id = tl.zeros((BLOCK_N,), dtype=tl.int32)
    lanes = tl.arange(0, BLOCK_V)
    for c in range(c_begin, c_end):
        vs = c * BLOCK_V + lanes  # (BLOCK_V,) vocabulary ids of this chunk
        acc = tl.zeros((BLOCK_N, BLOCK_V), dtype=tl.float32)
        for d0 in range(0, D, BLOCK_D):
            cols = d0 + tl.arange(0, BLOCK_D)
            col_ok = cols < D
            h = tl.load(h_rows + cols[None, :], mask=row_ok[:, None] & col_ok[None, :], other=0.0)
            g = tl.load(g_ptr + cols, mask=col_ok, other=0.0).to(tl.float32)
            x = (h.to(tl.float32) * rstd[:, None]).to(h.dtype).to(tl.float32) * g[None, :]
            # Round like the reference: normed dtype first, then the head's dtype for the matmul.
            x = x.to(normed_ptr.dtype.element_ty).to(w_ptr.dtype.element_ty)  # (BLOCK_N, BLOCK_D)
            w = tl.load(w_ptr + vs.to(tl.int64)[None, :] * stride_w + cols[:, None],
                        mask=(vs < V)[None, :] & col_ok[:, None], other=0.0)  # (BLOCK_D, BLOCK_V)
            if UPCAST:
                x = x.to(tl.float32)
                w = w.to(tl.float32)
            acc = tl.dot(x, w, acc, input_precision=PRECISION)
        dead = vs >= V  # (BLOCK_V,)
        if BLOCK_K > 0:
            kk = tl.arange(0, BLOCK_K)
            banned = tl.load(banned_ptr + kk, mask=kk < K, other=-1)  # (BLOCK_K,)
            hit = tl.max((vs[:, None] == banned[None, :]).to(tl.int32), axis=1)
            dead = dead | (hit > 0)
        z = tl.where(dead[None, :], neg_inf, acc)  # (BLOCK_N, BLOCK_V)

        c1 = tl.max(z, axis=1)
        c1_lane = tl.argmax(z, axis=1, tie_break_left=True)
        c2 = tl.max(tl.where(lanes[None, :] == c1_lane[:, None], neg_inf, z), axis=1)
        top2 = tl.maximum(tl.maximum(top2, c2), tl.minimum(top1, c1))
        # Strictly greater: an equal value in a later chunk has a higher id and loses the tie.
        top1_id = tl.where(c1 > top1, c * BLOCK_V + c1_lane, top1_id)
        top1 = tl.maximum(top1, c1)

        m_new = tl.maximum(m, c1)
        # While every id seen so far is banned m is -inf; shift by 0 then to avoid inf - inf.
        m_safe = tl.where(m_new == neg_inf, 0.0, m_new)
        p = tl.exp(z - m_safe[:, None])  # 0 at dead ids
        zc = tl.where(dead[None, :], 0.0, z - m_safe[:, None])
        alpha = tl.exp(m - m_safe)
        delta = tl.where(m == neg_inf, 0.0, m - m_safe)
        t = alpha * (t + delta * s) + tl.sum(p * zc, axis=1)
        s = alpha * s + tl.sum(p, axis=1)
        m = m_new

    # 3. partials: fpart is (5, S, N) = m, s, t, top1, top2; ipart is (S, N) top1 ids.
    at = pid_s * N + rows
    plane = S * N
    tl.store(fpart_ptr + at, m, mask=row_ok)
    tl.store(fpart_ptr + plane + at, s, mask=row_ok)
    tl.store(fpart_ptr + 2 * plane + at, t, mask=row_ok)
    tl.store(fpart_ptr + 3 * plane + at, top1, mask=row_ok)
    tl.store(fpart_ptr + 4 * plane + at, top2, mask=row_ok)
    tl.store(ipart_ptr + at, top1_id, mask=row_ok)


def _num_splits(n_chunks: int, row_blocks: int, device: torch.device) -> int:
    if device.type == "cuda":
        # About two programs per SM hides the weight-load latency; more only adds merge work.
        target = 2 * torch.cuda.get_device_properties(device).multi_processor_count
    else:
        target = 3  # interpreter: a few splits, so the merge path is exercised by CPU tests too
    return max(1, min(n_chunks, target // max(1, row_blocks)))


@triton.jit
def _gap_head_merge(
    fpart_ptr, ipart_ptr, id_ptr, top1_ptr, top2_ptr, lse_ptr, ent_ptr, N, S,
    BLOCK: tl.constexpr,
):
    """Fold the S split partials of each row in split order (= id order, so ties keep the lowest
    id) with the same rescaling rule as the main kernel; one launch instead of ~20 torch ops."""
    rows = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    ok = rows < N
    plane = S * N
    neg_inf = float("-inf")
    m = tl.full((BLOCK,), neg_inf, tl.float32)
    s = tl.zeros((BLOCK,), dtype=tl.float32)
    t = tl.zeros((BLOCK,), dtype=tl.float32)
    top1 = tl.full((BLOCK,), neg_inf, tl.float32)
    top2 = tl.full((BLOCK,), neg_inf, tl.float32)
    best = tl.zeros((BLOCK,), dtype=tl.int32)
    for j in range(0, S):
        at = j * N + rows
        mj = tl.load(fpart_ptr + at, mask=ok, other=neg_inf)
        sj = tl.load(fpart_ptr + plane + at, mask=ok, other=0.0)
        tj = tl.load(fpart_ptr + 2 * plane + at, mask=ok, other=0.0)
        a1 = tl.load(fpart_ptr + 3 * plane + at, mask=ok, other=neg_inf)
        a2 = tl.load(fpart_ptr + 4 * plane + at, mask=ok, other=neg_inf)
        ij = tl.load(ipart_ptr + at, mask=ok, other=0)
        top2 = tl.maximum(tl.maximum(top2, a2), tl.minimum(top1, a1))
        best = tl.where(a1 > top1, ij, best)
        top1 = tl.maximum(top1, a1)
        m_new = tl.maximum(m, mj)
        m_safe = tl.where(m_new == neg_inf, 0.0, m_new)
        d_old = tl.where(m == neg_inf, 0.0, m - m_safe)
        d_j = tl.where(mj == neg_inf, 0.0, mj - m_safe)
        t = tl.exp(m - m_safe) * (t + d_old * s) + tl.exp(mj - m_safe) * (tj + d_j * sj)
        s = tl.exp(m - m_safe) * s + tl.exp(mj - m_safe) * sj
        m = m_new
    s = tl.where(ok, s, 1.0)  # rows past N: keep log/divide finite (no interpreter warnings)
    log_s = tl.log(s)
    tl.store(id_ptr + rows, best, mask=ok)
    tl.store(top1_ptr + rows, top1, mask=ok)
    tl.store(top2_ptr + rows, top2, mask=ok)
    tl.store(lse_ptr + rows, tl.where(m == neg_inf, 0.0, m) + log_s, mask=ok)
    tl.store(ent_ptr + rows, log_s - t / s, mask=ok)


def gap_head_triton(hidden: torch.Tensor, norm_weight: torch.Tensor, eps: float,
                    head_weight: torch.Tensor, banned_ids: torch.Tensor | None = None, *,
                    block_v: int = 128, block_d: int = 64, num_splits: int | None = None) -> GapHeadOut:
    """Launch the kernel; block_v/block_d/num_splits are exposed for tests and tuning."""
    check_shapes(hidden, norm_weight, head_weight, banned_ids)
    hidden = hidden if hidden.stride(-1) == 1 else hidden.contiguous()
    head_weight = head_weight if head_weight.stride(-1) == 1 else head_weight.contiguous()
    norm_weight = norm_weight.contiguous()
    n, d = hidden.shape
    v = head_weight.shape[0]
    dev = hidden.device
    normed = torch.empty((n, d), dtype=torch.promote_types(hidden.dtype, norm_weight.dtype), device=dev)
    if banned_ids is None or banned_ids.numel() == 0:
        banned = torch.zeros(1, dtype=torch.int64, device=dev)  # never read (BLOCK_K = 0)
        k = 0
    else:
        banned = banned_ids.to(dev, torch.int64).contiguous()
        k = banned.numel()
    block_n = max(16, min(64, triton.next_power_of_2(max(n, 1))))
    row_blocks = triton.cdiv(max(n, 1), block_n)
    n_chunks = triton.cdiv(v, block_v)
    splits = num_splits or _num_splits(n_chunks, row_blocks, dev)
    per_split = triton.cdiv(n_chunks, max(1, min(splits, n_chunks)))
    splits = triton.cdiv(n_chunks, per_split)  # no empty trailing split
    fpart = torch.empty((5, splits, n), dtype=torch.float32, device=dev)
    ipart = torch.empty((splits, n), dtype=torch.int32, device=dev)
    if n == 0:
        empty = torch.empty(0, dtype=torch.float32, device=dev)
        return GapHeadOut(empty.long(), empty, empty, empty, empty, normed)
    precision = "ieee" if head_weight.dtype == torch.float32 else "tf32"
    upcast = dev.type == "cpu" and head_weight.dtype == torch.bfloat16
    _gap_head_partial[(row_blocks, splits)](
        hidden, norm_weight, head_weight, banned, normed, fpart, ipart,
        n, d, v, k, splits, float(eps), per_split,
        hidden.stride(0), head_weight.stride(0), normed.stride(0),
        BLOCK_N=block_n, BLOCK_V=block_v, BLOCK_D=block_d,
        BLOCK_K=triton.next_power_of_2(k) if k else 0, PRECISION=precision, UPCAST=upcast,
    )
    top1_id = torch.empty(n, dtype=torch.int64, device=dev)
    stats = torch.empty((4, n), dtype=torch.float32, device=dev)  # top1, top2, lse, entropy
    merge_block = min(128, triton.next_power_of_2(n))
    _gap_head_merge[(triton.cdiv(n, merge_block),)](
        fpart, ipart, top1_id, stats[0], stats[1], stats[2], stats[3], n, splits, BLOCK=merge_block)
    return GapHeadOut(top1_id, stats[0], stats[1], stats[2], stats[3], normed)
