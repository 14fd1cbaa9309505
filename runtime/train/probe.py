"""A quick task-shaped probe of a model while it trains: whole held-out lines filled in line mode.

line_probe(model, tokenizer, tokens, n=32, seed=0) -> {"probe_exact": %, "probe_nonempty": %,
"probe_tokens": mean tokens per fill}. The lines are drawn once from the held-out token stream
(seeded, so every call sees the same lines): a window of text is decoded, its middle non-blank line
becomes the gap (the text before and after it are prefix and suffix), and the fill is scored by
exact match after stripping. It runs the serving loop (runtime/batch.py, cached path, the model's
own strategy: "auto") on the training model in eval mode: a few seconds for 32 lines, cheap enough
for every checkpoint.
Held-out loss mixes easy positions (a few masks) with hard ones; this says whether lines come out.

stop_probe(model, tokens, ids, n=64, seq_len=256, seed=0) -> {"probe_stop": mean probability of the
first pad, "probe_stop_top": % of rows where it is the top token}: held-out infill rows whose gap has
pads, shown with the whole middle and every pad masked, the canvas on which ltr decoding must end a
fill. One forward; a model that never ends block fills scores near 0.
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


@torch.no_grad()
def stop_probe(model, tokens: np.ndarray, ids: dict, n: int = 64, seq_len: int = 256, seed: int = 0) -> dict:
    from runtime.train.examples import infill_row

    rng = np.random.default_rng(seed)
    rows, firsts = [], []
    for _ in range(20 * n):
        if len(rows) == n:
            break
        r = infill_row(tokens, seq_len, rng, ids["newline_id"], ids["mask_id"], ids["pad_id"], ids["eos_id"],
                       max_slack=32, max_middle=seq_len // 2, eps=1e-3)
        lo, hi = r["gap"]
        pads = np.flatnonzero(r["targets"][lo:hi] == ids["pad_id"])
        if r["kind"] != 1 or not len(pads):
            continue
        first = lo + int(pads[0])
        canvas = r["targets"].copy()
        canvas[first:hi] = ids["mask_id"]
        rows.append(canvas)
        firsts.append(first)
    if not rows:
        return {}
    was_training = model.training
    model.eval()
    try:
        logits = model(torch.as_tensor(np.stack(rows)))  # (R, T, V), row i = token i's distribution
    finally:
        model.train(was_training)
    at = logits[torch.arange(len(rows)), torch.as_tensor(firsts)]  # (R, V)
    p_pad = at.softmax(-1)[:, ids["pad_id"]]  # (R,)
    return {"probe_stop": float(p_pad.mean()), "probe_stop_top": 100.0 * float((at.argmax(-1) == ids["pad_id"]).float().mean())}
