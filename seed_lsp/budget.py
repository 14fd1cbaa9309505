"""How much text a job sends: token budgets from the model's window, in characters for the cuts.

The runtime keeps at most `engine.context_tokens(max_tokens)` tokens of text for a one-gap job
(its window less BOS/EOS and the gap at full growth; runtime.infill.text_budget) and trims the
rest exactly, on line boundaries. The server sends about that much and no more: the prefix and
the suffix may each take all of it (the runtime gives a short side's share to the other), and
workspace snippets a quarter (the runtime keeps a preamble's head within a quarter).
contextBefore / contextAfter, when a user sets them, cap those figures.
"""
from __future__ import annotations

from dataclasses import dataclass

from seed_lsp.context import CHARS_PER_TOKEN

FALLBACK_TOKENS = 1280  # before the model is loaded (snippets only; no job is built without a model)


@dataclass(frozen=True)
class Budget:
    before: int  # tokens of text before the cursor
    after: int  # tokens after it
    workspace_chars: int  # characters of cross-file snippets (0 when off)


def text_tokens(o, engine, max_tokens: int | None = None) -> int:
    if engine is None:
        return FALLBACK_TOKENS
    return engine.context_tokens(o.max_tokens if max_tokens is None else max_tokens)


def budget(o, engine, max_tokens: int | None = None) -> Budget:
    total = text_tokens(o, engine, max_tokens)
    before = total if o.context_before is None else min(o.context_before, total)
    after = total if o.context_after is None else min(o.context_after, total)
    workspace = min(total // 4, before // 2) * CHARS_PER_TOKEN if o.workspace_context else 0
    return Budget(before, after, workspace)
