"""A quick task-shaped probe of a model while it trains: whole held-out lines filled in line mode.

line_probe(model, tokenizer, tokens, n=32, seed=0) -> {"probe_exact": %, "probe_nonempty": %,
"probe_tokens": mean tokens per fill}. The lines are drawn once from the held-out token stream
(seeded, so every call sees the same lines): a window of text is decoded, its middle non-blank line
becomes the gap (the text before and after it are prefix and suffix), and the fill is scored by
exact match after stripping. It runs the serving loop (runtime/batch.py, cached path, the model's
own strategy: "auto") on the training model in eval mode: a few seconds for 32 lines, cheap enough
for every checkpoint.
Held-out loss mixes easy positions (a few masks) with hard ones; this says whether lines come out.
"""
from __future__ import annotations

import numpy as np
import torch

from runtime.batch import run_batch
from runtime.infill import RunOptions
from runtime.jobs import CancelToken, InfillJob


def probe_lines(tokenizer, tokens: np.ndarray, n: int, seed: int = 0, window: int = 400) -> list[tuple[str, str, str]]:
    """n (prefix, middle, suffix) cuts of held-out text, middle = a non-blank line."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(20 * n):
        if len(out) == n:
            break
        p = int(rng.integers(0, len(tokens) - window))
        lines = tokenizer.decode([int(t) for t in tokens[p:p + window]]).split("\n")[1:-1]  # drop cut lines
        if len(lines) < 6:
            continue
        i = len(lines) // 2
        if not lines[i].strip():
            continue
        out.append(("\n".join(lines[:i]) + "\n", lines[i], "\n" + "\n".join(lines[i + 1:])))
    return out


@torch.no_grad()
def line_probe(model, tokenizer, tokens: np.ndarray, n: int = 32, seed: int = 0, max_context: int = 192) -> dict:
    cuts = probe_lines(tokenizer, tokens, n, seed)
    jobs = [InfillJob(prefix=p, suffix=s, mode="line", max_tokens=48) for p, _, s in cuts]
    was_training = model.training
    model.eval()
    try:
        opts = RunOptions(max_context=max_context)
        # One at a time: in a batch, any gap that grows costs every canvas a full forward.
        results = [run_batch(model, tokenizer, [job], [CancelToken()], opts)[0] for job in jobs]
    finally:
        model.train(was_training)
    k = max(len(cuts), 1)
    return {"probe_exact": 100.0 * sum(r.text.strip() == m.strip() for r, (_, m, _) in zip(results, cuts)) / k,
            "probe_nonempty": 100.0 * sum(bool(r.text.strip()) for r in results) / k,
            "probe_tokens": sum(r.tokens for r in results) / k}
