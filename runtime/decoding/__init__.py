"""Decoding strategies by name: make_strategy("threshold", tau=0.8, temperature=0, seed=1)."""
from __future__ import annotations

import inspect

from runtime.decoding.base import Strategy
from runtime.decoding.strategies import Entropy, Factor, LeftToRight, Margin, OnePerStep, Threshold

STRATEGIES: dict[str, type[Strategy]] = {cls.name: cls for cls in (OnePerStep, Threshold, Factor, Margin, Entropy, LeftToRight)}
COMMON = ("temperature", "top_p", "seed")


def strategy_params(name: str) -> tuple[str, ...]:
    cls = STRATEGIES[name]
    own = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "kw")]
    return tuple(own) + COMMON


def make_strategy(name: str, **params) -> Strategy:
    """A strategy object; unknown names or parameters raise ValueError naming what is accepted."""
    if name not in STRATEGIES:
        raise ValueError(f"unknown strategy {name!r} (choose from {', '.join(STRATEGIES)})")
    allowed = strategy_params(name)
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise ValueError(f"strategy {name!r} takes {', '.join(allowed)}; unknown: {', '.join(unknown)}")
    return STRATEGIES[name](**params)


__all__ = ["STRATEGIES", "Strategy", "make_strategy", "strategy_params"]
