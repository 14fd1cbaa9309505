"""Decoding strategy contract: given the logits of a canvas's still-masked positions, choose a token
for each and say which positions to commit this step.

propose(logits (M, V)) -> tokens (M,), probs (M,), scores (M,): temperature 0 takes the argmax,
otherwise seeded temperature/top-p sampling; `scores` is the strategy's confidence metric.
select(scores, probs) -> indices (K,), K >= 1: the positions to commit (at least one, so a gap of n
masks ends within n steps). Rules about which ids may appear where (mask never, end tokens only at
the right edge) are applied to the logits before propose() by the infill loop, for every strategy.
"""
from __future__ import annotations

from abc import ABC, abstractmethod

import torch


class Strategy(ABC):
    name = "base"
    metric = "prob"

    def __init__(self, temperature: float = 0.0, top_p: float = 1.0, seed: int | None = None) -> None:
        if temperature < 0 or not 0 < top_p <= 1:
            raise ValueError(f"temperature must be >= 0 and 0 < top_p <= 1 (got {temperature}, {top_p})")
        self.temperature, self.top_p = temperature, top_p
        self.generator = torch.Generator().manual_seed(seed) if seed is not None else None

    def propose(self, logits: torch.Tensor):
        logits = logits.float()  # (M, V)
        if self.temperature > 0:
            logits = logits / self.temperature
        logp = torch.log_softmax(logits, dim=-1)  # (M, V)
        probs_all = logp.exp()
        if self.temperature > 0:
            tokens = self._sample(probs_all)
        else:
            tokens = logp.argmax(dim=-1)  # (M,)
        probs = probs_all.gather(1, tokens[:, None])[:, 0]  # (M,)
        return tokens, probs, self._score(logp, probs_all, probs)

    def _sample(self, probs: torch.Tensor) -> torch.Tensor:
        if self.top_p < 1:
            sorted_p, order = probs.sort(dim=-1, descending=True)
            keep = sorted_p.cumsum(-1) - sorted_p < self.top_p  # always keeps the top token
            sorted_p = sorted_p * keep
            probs = torch.zeros_like(probs).scatter(1, order, sorted_p)
        return torch.multinomial(probs.cpu(), 1, generator=self.generator)[:, 0].to(probs.device)

    def _score(self, logp, probs_all, probs):
        if self.metric == "margin":
            top2 = probs_all.topk(2, dim=-1).values  # (M, 2)
            return top2[:, 0] - top2[:, 1]
        if self.metric == "entropy":
            return (probs_all * logp.clamp_min(-1e4)).sum(-1)  # negative entropy: higher = surer
        return probs

    @abstractmethod
    def select(self, scores: torch.Tensor, probs: torch.Tensor) -> torch.Tensor:
        """Indices (K,), K >= 1, of the positions to commit this step."""
