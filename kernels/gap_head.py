"""Final RMSNorm + LM head + softmax statistics for the gap rows of a denoising step.

The math, per gap row n (hidden h_n in R^D, head W in R^{V x D}, allowed set A = all ids - banned):
    x_n    = g * (h_n / sqrt(mean(h_n^2) + eps))        RMSNorm, normalised in fp32 then cast back
    z_nv   = <x_n, W_v>                                   logits, v in A (banned ids count as -inf)
    lse_n  = log sum_{v in A} exp(z_nv)
    H_n    = lse_n - sum_{v in A} p_nv z_nv,   p_nv = exp(z_nv - lse_n)      (entropy, nats)
    top1_id/top1_logit/top2_logit = the two largest z_nv over A (ties: lowest id first)
From these the caller gets p1 = exp(top1_logit - lse), p2 = exp(top2_logit - lse), margin = p1 - p2.

Contract: gap_head(hidden (N, D), norm_weight (D,), eps, head_weight (V, D), banned_ids (K,) | None)
-> GapHeadOut. `normed` (N, D, dtype of hidden*weight as in HF RMSNorm) comes back too, so the
caller can compute a few extra logits (pad, eos) without redoing the norm. Statistics are float32.
Ties inside float noise may pick a different top1_id on the kernel path than on the reference.

gap_head_reference materialises the (N, V) logits with plain torch; the Triton kernel
(kernels/gap_head_kernel.py, imported lazily) streams the vocabulary in chunks with an online softmax
and never materialises them. kernels.dispatch chooses between the two.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from kernels.dispatch import run_op


class GapHeadOut(NamedTuple):
    top1_id: torch.Tensor  # (N,) long
    top1_logit: torch.Tensor  # (N,) float32
    top2_logit: torch.Tensor  # (N,) float32, -inf when fewer than two ids are allowed
    lse: torch.Tensor  # (N,) float32 logsumexp over allowed ids
    entropy: torch.Tensor  # (N,) float32
    normed: torch.Tensor  # (N, D) the RMSNorm output (what the head multiplies)


def check_shapes(hidden: torch.Tensor, norm_weight: torch.Tensor, head_weight: torch.Tensor,
                 banned_ids: torch.Tensor | None) -> None:
    if hidden.dim() != 2 or head_weight.dim() != 2 or norm_weight.dim() != 1:
        raise ValueError("gap_head wants hidden (N, D), norm_weight (D,), head_weight (V, D)")
    d = hidden.shape[1]
    if norm_weight.shape[0] != d or head_weight.shape[1] != d:
        raise ValueError(f"hidden size mismatch: hidden {tuple(hidden.shape)}, norm "
                         f"{tuple(norm_weight.shape)}, head {tuple(head_weight.shape)}")
    if banned_ids is not None and (banned_ids.dim() != 1 or banned_ids.dtype.is_floating_point):
        raise ValueError("banned_ids must be a 1-D integer tensor")


def rms_norm(hidden: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """HF-style RMSNorm: normalise in fp32, cast back to the input dtype, then scale by weight."""
    x = hidden.float()  # (N, D)
    x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)
    return weight * x.to(hidden.dtype)  # (N, D)


def stats_from_logits(logits: torch.Tensor, banned_ids: torch.Tensor | None,
                      normed: torch.Tensor) -> GapHeadOut:
    """The GapHeadOut of materialised logits (N, V); banned ids are set to -inf first."""
    z = logits.float()  # (N, V)
    if banned_ids is not None and banned_ids.numel():
        z = z.index_fill(1, banned_ids.to(z.device, torch.long), float("-inf"))
    if z.shape[1] >= 2:
        top = torch.topk(z, 2, dim=-1)  # values (N, 2), descending
        top1_logit, top2_logit = top.values[:, 0], top.values[:, 1]
    else:
        top1_logit = z[:, 0]
        top2_logit = torch.full_like(top1_logit, float("-inf"))
    # argmax (not topk's index) because argmax promises the first maximal index on ties.
    top1_id = z.argmax(dim=-1)  # (N,)
    lse = torch.logsumexp(z, dim=-1)  # (N,)
    p = torch.exp(z - lse[:, None])  # (N, V)
    # p * z is 0 * -inf = nan at banned ids: those terms are zero by definition.
    pz = torch.where(p > 0, p * z, torch.zeros_like(z))
    entropy = lse - pz.sum(-1)
    return GapHeadOut(top1_id, top1_logit, top2_logit, lse, entropy, normed)


def gap_head_reference(hidden: torch.Tensor, norm_weight: torch.Tensor, eps: float,
                       head_weight: torch.Tensor, banned_ids: torch.Tensor | None = None) -> GapHeadOut:
    """Plain torch: RMSNorm, the full (N, V) logits in the head's dtype, then statistics in fp32."""
    check_shapes(hidden, norm_weight, head_weight, banned_ids)
    normed = rms_norm(hidden, norm_weight, eps)  # (N, D)
    logits = torch.nn.functional.linear(normed.to(head_weight.dtype), head_weight)  # (N, V)
    return stats_from_logits(logits, banned_ids, normed)


def gap_head(hidden: torch.Tensor, norm_weight: torch.Tensor, eps: float, head_weight: torch.Tensor,
             banned_ids: torch.Tensor | None = None) -> GapHeadOut:
    """The dispatched op: the Triton kernel on CUDA (or forced), else the reference."""
    def kernel() -> GapHeadOut:
        from kernels.gap_head_kernel import gap_head_triton

        return gap_head_triton(hidden, norm_weight, eps, head_weight, banned_ids)

    def reference() -> GapHeadOut:
        return gap_head_reference(hidden, norm_weight, eps, head_weight, banned_ids)

    return run_op("gap_head", kernel, reference, hidden, norm_weight, head_weight)
