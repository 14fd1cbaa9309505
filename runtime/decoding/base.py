"""Decoding strategy contract: given the logits of a canvas's still-masked positions, choose a token
for each and say which positions to commit this step.

propose(logits (M, V)) -> tokens (M,), probs (M,), scores (M,): temperature 0 takes the argmax,
otherwise seeded temperature/top-p sampling; `scores` is the strategy's confidence metric.
select(scores, probs) -> indices (K,), K >= 1: the positions to commit (at least one, so a gap of n
masks ends within n steps). Rules about which ids may appear where (mask never, end tokens only at
the right edge) are applied to the logits before propose() by the infill loop, for every strategy.

Constructors check their params' types and ranges and raise ValueError naming the param: a job's
params come from users and other processes, and a bad one must fail when the job is submitted, alone,
not later inside a step of a batch that other jobs share.
"""
from __future__ import annotations

import math
import numbers
from abc import ABC, abstractmethod

import torch

SEED_RANGE = 2 ** 64  # torch.Generator.manual_seed takes seeds below this


def shown(value) -> str:
    """A short repr for error messages (a value may be megabytes long)."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def real_param(owner: str, name: str, value) -> float:
    """value as a float, or ValueError naming the param: a finite int or float (a bool is not one)."""
    try:
        ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    except OverflowError:  # an int too large for a float
        ok = False
    if not ok:
        raise ValueError(f"{owner} param {name!r} must be a finite number, got {type(value).__name__} {shown(value)}")
    return float(value)


def int_param(owner: str, name: str, value) -> int:
    """value as an int, or ValueError naming the param (a bool or a float is not one)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{owner} param {name!r} must be an int, got {type(value).__name__} {shown(value)}")
    return int(value)


class Strategy(ABC):
    name = "base"
    metric = "prob"

    def __init__(self, temperature: float = 0.0, top_p: float = 1.0, seed: int | None = None) -> None:
        temperature = real_param(self.name, "temperature", temperature)
        top_p = real_param(self.name, "top_p", top_p)
        if temperature < 0 or not 0 < top_p <= 1:
            raise ValueError(f"temperature must be >= 0 and 0 < top_p <= 1 (got {temperature}, {top_p})")
        if seed is not None and not 0 <= int_param(self.name, "seed", seed) < SEED_RANGE:
            raise ValueError(f"{self.name} param 'seed' must be in [0, 2**64), got {shown(seed)}")
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
