"""Attention of the gap queries over a cached context plus the gap (bidirectional, grouped-query).

The math, per batch b, query head h (kv head j = h // G, G = H / Hkv), gap query i, key t:
    s_it  = scale * <q_bhi, k_bjt>            scale defaults to 1 / sqrt(Dh)
    s_it  = -inf where key_mask[b, t] is False  (no causal mask: the gap sees both sides)
    out_bhi = sum_t softmax_t(s_i)_t v_bjt
A query whose keys are all masked gets zeros (softmax over nothing is defined as 0 here, where
torch's SDPA would return NaN).

Contract: gap_attention(q (B, H, Nq, Dh), k (B, Hkv, T, Dh), v (B, Hkv, T, Dh),
key_mask (B, T) bool True=attend | None, scale=None) -> (B, H, Nq, Dh) in q's dtype.
k/v may be views into a larger static cache (any strides; the last dim must be contiguous for the
kernel, which copies otherwise). The reference is torch SDPA with repeated kv heads; the Triton
kernel (kernels/gap_attention_kernel.py, imported lazily) is flash-style. kernels.dispatch chooses.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from kernels.dispatch import run_op


def check_shapes(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                 key_mask: torch.Tensor | None) -> None:
    if q.dim() != 4 or k.dim() != 4 or v.shape != k.shape:
        raise ValueError("gap_attention wants q (B, H, Nq, Dh) and k, v (B, Hkv, T, Dh)")
    b, h, _, dh = q.shape
    if k.shape[0] != b or k.shape[3] != dh or h % k.shape[1] != 0:
        raise ValueError(f"q {tuple(q.shape)} does not fit k/v {tuple(k.shape)} "
                         "(same B and Dh; H a multiple of Hkv)")
    if key_mask is not None and (key_mask.dtype != torch.bool or key_mask.shape != (b, k.shape[2])):
        raise ValueError(f"key_mask must be bool (B, T) = {(b, k.shape[2])}, got "
                         f"{key_mask.dtype} {tuple(key_mask.shape)}")


def gap_attention_reference(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                            key_mask: torch.Tensor | None = None,
                            scale: float | None = None) -> torch.Tensor:
    """torch SDPA over kv heads repeated G times; fully masked queries -> zeros."""
    check_shapes(q, k, v, key_mask)
    group = q.shape[1] // k.shape[1]
    if group > 1:
        k = k.repeat_interleave(group, dim=1)  # (B, H, T, Dh)
        v = v.repeat_interleave(group, dim=1)
    mask = None if key_mask is None else key_mask[:, None, None, :]  # (B, 1, 1, T)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=scale)  # (B, H, Nq, Dh)
    if key_mask is not None:
        none_left = ~key_mask.any(dim=-1)  # (B,)
        out = out.masked_fill(none_left[:, None, None, None], 0.0)
    return out


def gap_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                  key_mask: torch.Tensor | None = None, scale: float | None = None) -> torch.Tensor:
    """The dispatched op: the Triton kernel on CUDA (or forced), else the reference."""
    def kernel() -> torch.Tensor:
        from kernels.gap_attention_kernel import gap_attention_triton

        return gap_attention_triton(q, k, v, key_mask, scale)

    def reference() -> torch.Tensor:
        return gap_attention_reference(q, k, v, key_mask, scale)

    return run_op("gap_attention", kernel, reference, q, k, v)
