"""Warm start from the previous fill: after a small edit, a document's last completion is often still
(most of) the answer. It goes into the new gap as a draft that the model checks, instead of the gap
being denoised from all masks again.

Aiming the old fill at the new job (text level; single-gap jobs of the same mode, and the suffix's
first line unchanged):
  same     the cursor's line before the cursor is unchanged (the edit was elsewhere): the old fill;
  typed    the user typed t there and the old fill starts with t: the rest of the old fill;
  deleted  the user deleted d (at most MAX_DELETED characters) before the cursor: d + the old fill.
Checking (greedy decoding only): two forwards of the gap rows, each with every other draft position
masked. A draft token stays where it is the model's argmax with its neighbours in place
(leave-half-out), under the same rules as any commit; the rest become masks again and ordinary
denoising fills them. A draft the model agrees with costs two forwards instead of one per step.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from runtime.canvas import Canvas
from runtime.jobs import InfillJob

MAX_DELETED = 8


@dataclass
class LastFill:
    """What a finished single-gap job of a document wrote: its texts, mode, fill and end token."""

    texts: list[str]
    mode: str
    fill: str
    end_token: int | None


def aim(last: LastFill | None, job: InfillJob) -> str | None:
    """The old fill re-aimed at `job` (see the module docstring), or None when it does not apply."""
    if last is None or not last.fill or last.mode != job.mode or len(job.texts) != 2 or len(last.texts) != 2:
        return None
    (old_pre, old_suf), (new_pre, new_suf) = last.texts, job.texts
    if old_suf.split("\n", 1)[0] != new_suf.split("\n", 1)[0]:
        return None
    old_line, new_line = old_pre[old_pre.rfind("\n") + 1:], new_pre[new_pre.rfind("\n") + 1:]
    if new_line == old_line:
        rest = last.fill
    elif new_line.startswith(old_line):
        typed = new_line[len(old_line):]
        rest = last.fill[len(typed):] if last.fill.startswith(typed) else None
    elif old_line.startswith(new_line) and len(old_line) - len(new_line) <= MAX_DELETED:
        rest = old_line[len(new_line):] + last.fill
    else:
        rest = None
    return rest or None


def draft_ids(text: str, indent: str, end_token: int | None, stop_ids, tokenizer, budget: int) -> list[int]:
    """Token ids of a draft for a gap that starts with `indent` (healed indentation, see infill.py),
    ending with the old fill's end token when that fits in the budget. A line-ending token that
    carries text (a real vocabulary's ":\n" ended a line fill whose text kept the ":") is left out;
    stop tokens (pad, eos) are kept."""
    ids = tokenizer.encode(indent + text)
    if end_token is not None and end_token not in stop_ids and tokenizer.decode([end_token]).strip():
        end_token = None
    if len(ids) >= budget or end_token is None:
        return ids[:budget]
    return ids + [end_token]


def place(canvas: Canvas, draft: list[int]) -> list[int]:
    """Write the draft at the start of the canvas's first gap (uncommitted); return its positions.
    Slots right of a draft end token become padding, as a commit would make them."""
    gap = canvas.gaps[0]
    positions = list(range(gap.start, gap.start + min(len(draft), gap.length)))
    for p, tok in zip(positions, draft):
        canvas.ids[p] = tok
    if positions and draft[len(positions) - 1] in canvas.end_ids:
        for q in range(positions[-1] + 1, gap.end):
            canvas.ids[q] = canvas.pad_id
    return positions


@torch.no_grad()
def check(canvas: Canvas, positions: list[int], runner, ban) -> int:
    """Keep the draft tokens the model agrees with (leave-half-out), commit them, and turn the rest
    (and any padding a rejected end token made) back into masks. Returns the tokens kept.

    ban(logits, canvas, positions) applies the loop's rules to the logits of masked positions."""
    draft = {p: canvas.ids[p] for p in positions}
    gap = canvas.gaps[0]
    tail = [q for q in range(positions[-1] + 1, gap.end)] if positions else []
    agreed: dict[int, float] = {}
    for parity in (0, 1):
        hide = positions[parity::2]
        if not hide or canvas.cancel.stopped():
            continue
        for p in hide:
            canvas.ids[p] = canvas.mask_id
        logits = ban(runner.logits([canvas], [hide])[0], canvas, hide)  # (M, V)
        probs = torch.softmax(logits.float(), dim=-1)  # (M, V)
        best = probs.argmax(dim=-1).tolist()  # (M,)
        for i, p in enumerate(hide):
            if best[i] == draft[p]:
                agreed[p] = float(probs[i, best[i]])
            canvas.ids[p] = draft[p]
        canvas.steps += 1
        canvas.cancel.steps = canvas.steps
    for q in positions + tail:
        canvas.ids[q] = canvas.mask_id
    kept = 0
    for p in positions:  # left to right: an end token is committed after the content it closes
        tok = draft[p]
        if p not in agreed or (tok in canvas.end_ids and not canvas.end_allowed([p])[0]):
            continue
        canvas.commit(p, tok, agreed[p])
        kept += 1
    return kept
