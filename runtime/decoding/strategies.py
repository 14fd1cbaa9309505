"""The strategies, one small class each (see base.py for the contract).

one        : the reference: commit the single most confident position per step.
threshold  : the most confident position plus every other with probability >= tau (Fast-dLLM).
factor     : accept rank r (by confidence, descending) while c_r >= 1 - f / (r + 1) (Fast-dLLM).
margin     : the k positions with the largest top1 - top2 probability margin.
entropy    : the k positions with the lowest entropy.
ltr        : left to right: the leftmost masked position, plus the run of positions right after it
             while each is >= tau (semi-autoregressive; suits shifted models trained with causal rows).
"""
from __future__ import annotations

import torch

from runtime.decoding.base import Strategy, int_param, real_param


class OnePerStep(Strategy):
    name = "one"

    def select(self, scores, probs):
        return scores.argmax().view(1)


class TauStrategy(Strategy):
    """A strategy with a confidence bar tau in (0, 1]."""

    def __init__(self, tau: float = 0.9, **kw) -> None:
        super().__init__(**kw)
        tau = real_param(self.name, "tau", tau)
        if not 0 < tau <= 1:
            raise ValueError(f"{self.name} tau must be in (0, 1], got {tau}")
        self.tau = tau


class Threshold(TauStrategy):
    name = "threshold"

    def select(self, scores, probs):
        best = scores.argmax()
        chosen = (scores >= self.tau).nonzero()[:, 0]
        return torch.unique(torch.cat([best.view(1), chosen]))


class Factor(Strategy):
    name = "factor"

    def __init__(self, factor: float = 1.0, **kw) -> None:
        super().__init__(**kw)
        factor = real_param(self.name, "factor", factor)
        if factor <= 0:
            raise ValueError(f"factor must be > 0, got {factor}")
        self.factor = factor

    def select(self, scores, probs):
        order = scores.argsort(descending=True)
        ranks = torch.arange(1, len(order) + 1, device=scores.device, dtype=scores.dtype)
        ok = scores[order] >= 1 - self.factor / (ranks + 1)
        count = max(1, int(ok.long().cumprod(0).sum()))  # accept ranks while the rule holds
        return order[:count]


class TopK(Strategy):
    def __init__(self, k: int = 2, **kw) -> None:
        super().__init__(**kw)
        k = int_param(self.name, "k", k)
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        self.k = k

    def select(self, scores, probs):
        return scores.topk(min(self.k, len(scores))).indices


class Margin(TopK):
    name = "margin"
    metric = "margin"


class Entropy(TopK):
    name = "entropy"
    metric = "entropy"


class LeftToRight(TauStrategy):
    """Positions arrive sorted (Canvas.masked_positions), so index 0 is the leftmost mask and, in a gap
    filled from the left, indices 0..k are adjacent slots. The leftmost is always committed (its left
    context is complete: for a shifted model it is a next-token prediction); the slots after it join
    while each is confident, so an easy stretch still lands in one step."""

    name = "ltr"

    def select(self, scores, probs):
        ok = scores[1:] >= self.tau  # (M-1,)
        run = int(ok.long().cumprod(0).sum()) if len(ok) else 0
        return torch.arange(run + 1, device=scores.device)
