"""Server options: one typed dataclass, filled from the command line, initializationOptions and
workspace/didChangeConfiguration (camelCase keys, as editors send them).

    {"enable": true, "model": "/path", "device": "auto", "strategy": "auto",
     "strategyParams": {"tau": 0.9}, "maxTokens": 64, "contextBefore": 1024,
     "contextAfter": 256, "confidenceFloor": 0.51, "mode": "auto", "inlineCompletion": true,
     "completion": "auto", "codeActions": true, "deadlineMs": null, "cacheSize": 32,
     "workspaceContext": true}

Settings may arrive flat or under a "seed-lsp" / "seed" section. A value of the wrong type or an
unknown key is logged and ignored (the server keeps its previous value): a client's typo must never
take the server down. Keys that only the editor extension reads (CLIENT_KEYS: the server command,
document selector, trace level) are skipped silently: workspace/configuration returns the whole
"seed-lsp" section, theirs included. A null for an option that cannot be null means "not set".
"""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("seed_lsp.options")

MODES = ("auto", "line", "block")
COMPLETION = ("auto", "always", "off")  # auto: textDocument/completion only for clients without inline


@dataclass
class Options:
    enable: bool = True
    model: str | None = None  # checkpoint directory; None = the embedded model
    device: str = "auto"
    strategy: str = "auto"
    strategy_params: dict[str, Any] = field(default_factory=dict)
    max_tokens: int = 64
    # Tokens of text sent before / after the cursor; None (the default): what the model's window
    # keeps (seed_lsp/budget.py), so a 192-token model is not sent 1,280 and a 131k one not cut to 2k.
    context_before: int | None = None
    context_after: int | None = None
    # The lowest floor at which shown single-line completions pass 3x as often as unfiltered ones
    # (embedded model: 20.8 % vs 6.87 %, 21 % of lines shown): `seed-lsp eval floor`, docs/eval.md.
    confidence_floor: float = 0.51
    mode: str = "auto"
    inline_completion: bool = True
    completion: str = "auto"
    code_actions: bool = True
    deadline_ms: float | None = None
    cache_size: int = 32
    workspace_context: bool = True  # cross-file snippets from the workspace folders before the prefix

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        if self.completion not in COMPLETION:
            raise ValueError(f"completion must be one of {COMPLETION}")
        if self.max_tokens < 1 or (self.context_before or 0) < 0 or (self.context_after or 0) < 0 or self.cache_size < 0:
            raise ValueError("maxTokens must be >= 1; contextBefore, contextAfter, cacheSize >= 0")
        if not 0.0 <= self.confidence_floor <= 1.0:
            raise ValueError("confidenceFloor must be within [0, 1]")


_KEYS = {f.name: f.name for f in dataclasses.fields(Options)} | {
    "strategyParams": "strategy_params", "params": "strategy_params", "maxTokens": "max_tokens",
    "contextBefore": "context_before", "contextAfter": "context_after", "confidenceFloor": "confidence_floor",
    "inlineCompletion": "inline_completion", "codeActions": "code_actions", "deadlineMs": "deadline_ms",
    "cacheSize": "cache_size", "workspaceContext": "workspace_context",
}
_TYPES: dict[str, tuple[type, ...]] = {
    "enable": (bool,), "model": (str, type(None)), "device": (str,), "strategy": (str,), "strategy_params": (dict,),
    "max_tokens": (int,), "context_before": (int, type(None)), "context_after": (int, type(None)), "confidence_floor": (int, float),
    "mode": (str,), "inline_completion": (bool,), "completion": (str,), "code_actions": (bool,),
    "deadline_ms": (int, float, type(None)), "cache_size": (int,),
    "workspace_context": (bool,),
}
SECTIONS = ("seed-lsp", "seed", "seedLsp")
CLIENT_KEYS = frozenset({"command", "args", "env", "documentSelector", "trace", "serverPath"})


def _section(settings: Any) -> dict:
    if not isinstance(settings, dict):
        return {}
    for name in SECTIONS:
        if isinstance(settings.get(name), dict):
            return settings[name]
    return settings


def merge(base: Options, settings: Any) -> Options:
    """A new Options: `base` with the valid values of `settings` applied (invalid ones logged)."""
    values = dataclasses.asdict(base)
    for key, value in _section(settings).items():
        name = _KEYS.get(key)
        if name is None and key in CLIENT_KEYS:
            continue
        if name is None:
            log.warning("unknown option %r ignored", key)
            continue
        types = _TYPES[name]
        if value is None and type(None) not in types:
            continue  # null = "not set" (editors send null for settings left at a null default)
        if isinstance(value, bool) and bool not in types or not isinstance(value, types):
            log.warning("option %r: %r is not a %s; ignored", key, value, "/".join(t.__name__ for t in types))
            continue
        if name == "model" and value == "":
            value = None  # editors send "" for "not set"
        candidate = dict(values, **{name: value})
        try:
            Options(**candidate)
        except ValueError as exc:
            log.warning("option %r: %s; ignored", key, exc)
            continue
        values = candidate
    return Options(**values)
