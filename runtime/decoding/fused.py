"""Greedy proposals straight from the gap rows' hidden states through kernels.gap_head: the final
norm, the LM head, the softmax statistics and the argmax in one pass over the vocabulary, without
materialising the (M, V) logits. The loop takes this path when the Triton kernel would run (CUDA,
or SEED_LSP_KERNELS=triton) and every strategy of the batch is greedy; otherwise it computes logits.

propose(model, canvas, positions, hidden (M, C) before the final norm, strategy) -> tokens (M,),
probs (M,), scores (M,): Strategy.propose's contract on the banned logits (runtime/bans.py), for
temperature 0. Rows that ban the same ids share one kernel call.
"""
from __future__ import annotations

import torch

from kernels import gap_head, use_kernel
from runtime import bans


def usable(model, strategies) -> bool:
    return all(s.temperature == 0 for s in strategies) and use_kernel(model.head.weight)


def propose(model, canvas, positions: list[int], hidden: torch.Tensor, strategy):
    keys = bans.row_bans(canvas, positions)
    dev = hidden.device
    tokens = torch.empty(len(positions), dtype=torch.long, device=dev)
    probs = torch.empty(len(positions), dtype=torch.float32, device=dev)
    scores = torch.empty_like(probs)
    for key in dict.fromkeys(keys):
        rows = torch.tensor([i for i, k in enumerate(keys) if k == key], dtype=torch.long, device=dev)
        banned = bans.banned_ids(canvas, key, model.spec.mask_id, dev)
        out = gap_head(hidden[rows], model.norm.weight, model.norm.eps, model.head.weight, banned)
        p1 = torch.exp(out.top1_logit - out.lse)  # (R,)
        tokens[rows], probs[rows] = out.top1_id, p1
        if strategy.metric == "margin":
            scores[rows] = p1 - torch.exp(out.top2_logit - out.lse)
        elif strategy.metric == "entropy":
            scores[rows] = -out.entropy  # higher = surer, as Strategy._score
        else:
            scores[rows] = p1
    return tokens, probs, scores
