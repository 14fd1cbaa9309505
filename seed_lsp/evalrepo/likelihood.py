"""How likely the model finds the true line, given an arm's job: a measure that does not need the
model to write the line.

    score = line_likelihood(engine, job, middle, name)
    score -> {"nll": mean -log p per token of the line, "name_nll": summed over the identifier's
              tokens, "name_top1": the identifier's first token is the model's first choice}

The job's canvas is built as the engine builds it (runtime.infill.build_canvas: the same window,
the same preamble share) with a gap of exactly the line's token count, every position masked;
one forward gives each position's distribution, read at the line's true tokens. A weak model that
stops after one token scores 0 % exact in both arms; whether the context moves probability toward
the cross-file name still shows here.
"""
from __future__ import annotations

import re
from dataclasses import replace


def _name_tokens(tokenizer, ids: list[int], middle: str, name: str) -> list[int]:
    """Indices of the tokens of `middle` that overlap the first use of `name` as a name."""
    m = re.search(rf"(?<![\w.]){re.escape(name)}\b", middle)
    if m is None:
        return []
    out, end = [], 0
    for i in range(len(ids)):
        start, end = end, len(tokenizer.decode(ids[: i + 1]))
        if start < m.end() and end > m.start():
            out.append(i)
    return out


def line_likelihood(engine, job, middle: str, name: str) -> dict:
    import torch

    from runtime.infill import build_canvas
    from runtime.jobs import CancelToken

    tok, model = engine.tokenizer, engine.model
    ids = tok.encode(middle)
    job = replace(job, gap_tokens=len(ids), max_tokens=max(job.max_tokens, len(ids)))
    canvas = build_canvas(job, model, tok, engine.options, CancelToken())
    start = canvas.gaps[0].start
    with torch.inference_mode():
        logits = model.aligned_logits(torch.tensor([canvas.ids], device=model.device))[0, start:start + len(ids)]
    logp = torch.log_softmax(logits.float(), dim=-1)  # (L, V)
    target = torch.tensor(ids, device=logp.device)
    nll = -logp[torch.arange(len(ids), device=logp.device), target]  # (L,)
    where = _name_tokens(tok, ids, middle, name)
    return {"nll": round(nll.mean().item(), 4),
            "name_nll": round(nll[where].sum().item(), 4) if where else None,
            "name_top1": bool(where) and int(logp[where[0]].argmax()) == ids[where[0]]}
