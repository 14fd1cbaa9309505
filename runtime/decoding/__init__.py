"""Decoding strategies by name: make_strategy("threshold", tau=0.8, temperature=0, seed=1).

"auto" (the default everywhere) is the model's own choice: resolve("auto", model.spec.defaults) reads
config.json's seed_lsp_defaults.strategy (the embedded model says "ltr"), else "threshold"."""
from __future__ import annotations

import inspect

from runtime.decoding.base import Strategy
from runtime.decoding.strategies import Entropy, Factor, LeftToRight, Margin, OnePerStep, Threshold

STRATEGIES: dict[str, type[Strategy]] = {cls.name: cls for cls in (OnePerStep, Threshold, Factor, Margin, Entropy, LeftToRight)}
COMMON = ("temperature", "top_p", "seed")
AUTO = "auto"
FALLBACK = "threshold"


def resolve(name: str, defaults: dict | None = None) -> str:
    """The strategy a job named `name` runs with on a model whose config defaults are `defaults`."""
    if name != AUTO:
        return name
    chosen = (defaults or {}).get("strategy", FALLBACK)
    return chosen if chosen in STRATEGIES else FALLBACK


def strategy_for(name: str, params: dict, defaults: dict | None = None) -> Strategy:
    """The strategy a job runs: "auto" takes the model's strategy and its parameters (the family's
    decoding table, runtime/models/, or config seed_lsp_defaults), the job's own params on top."""
    defaults = defaults or {}
    if name == AUTO:
        own = {k: v for k, v in defaults.get("params", {}).items() if k in strategy_params(resolve(name, defaults))}
        params = {**own, **params}
    return make_strategy(resolve(name, defaults), **params)


def strategy_params(name: str) -> tuple[str, ...]:
    cls = STRATEGIES[FALLBACK if name == AUTO else name]
    own = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "kw")]
    return tuple(own) + COMMON


def make_strategy(name: str, **params) -> Strategy:
    """A strategy object; unknown names or parameters, or ill-typed / out-of-range values, raise
    ValueError naming what is accepted (each strategy's constructor checks its own params)."""
    if not isinstance(name, str):
        raise ValueError(f"strategy must be a str, got {type(name).__name__}")
    if name == AUTO:
        name = FALLBACK  # no model here to ask; callers with a model resolve() first
    if name not in STRATEGIES:
        raise ValueError(f"unknown strategy {name!r} (choose from {', '.join(STRATEGIES)} or {AUTO})")
    allowed = strategy_params(name)
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise ValueError(f"strategy {name!r} takes {', '.join(allowed)}; unknown: {', '.join(unknown)}")
    return STRATEGIES[name](**params)


__all__ = ["AUTO", "STRATEGIES", "Strategy", "make_strategy", "resolve", "strategy_for", "strategy_params"]
