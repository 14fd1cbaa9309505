"""Warm start from the previous fill: after a small edit, a document's last completion is often still
(most of) the answer. It tells the loop which states its own decoding will pass through, so that
several of its steps run as one forward, and the answer stays the one a cold job would write.

Aiming the old fill at the new job (text level; single-gap jobs of the same mode, and the suffix's
first line unchanged):
  same     the cursor's line before the cursor is unchanged (the edit was elsewhere): the old fill;
  typed    the user typed t there and the old fill starts with t: the rest of the old fill;
  deleted  the user deleted d (at most MAX_DELETED characters) before the cursor: d + the old fill.
Checking (greedy decoding only) replays the loop: a cold left-to-right decode of a draft d passes
through the states S_k = d[:k] followed by masks. After one ordinary step (S_0, which also recomputes
what a reused cache left stale), one forward computes the gap rows of S_k, S_k+1, ... side by side
(Runner.variant_rows), and the loop's own step (infill.step: strategy, rules, commits) runs on each
state's rows in turn while the canvas stays on the draft's path. Where the model would write
something else the replay stops, with the canvas exactly where the cold decode would be, and
ordinary denoising goes on from there. So a draft changes how many forwards a fill costs, never
which fill it is. (A strategy that does not fill from the left soon leaves the path: no gain, and
at most one forward spent on states it did not visit.) An older check kept the draft tokens the
model agreed with while their neighbours stood in place; it answered unlike a cold job about half
the time after an edit (README).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from runtime.infill import step
from runtime.jobs import InfillJob

MAX_DELETED = 8
MAX_STATES = 16  # draft states replayed per forward


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


class _Recorded:
    """Stands in for the runner in one infill.step: the state's rows were computed beforehand."""

    def __init__(self, model, fused: bool, out) -> None:
        self.model, self.fused, self.out = model, fused, out

    def fused_head(self, strategies) -> bool:
        return self.fused

    def rows(self, canvases, positions, normed: bool = True):
        return [self.out]

    def logits(self, canvases, positions):
        return [self.out]


def _on_path(canvas, draft: list[int]) -> int | None:
    """k when the canvas's first gap is the draft state S_k (draft[:k], then masks only), else None."""
    gap = canvas.gaps[0]
    ids = canvas.ids[gap.start: gap.end]
    k = 0
    while k < min(len(ids), len(draft)) and ids[k] == draft[k]:
        k += 1
    return k if all(t == canvas.mask_id for t in ids[k:]) else None


@torch.no_grad()
def check(canvas, draft: list[int], runner, strategy, mask_id: int) -> int:
    """Decode the canvas's first steps as a cold job would, replaying the draft's states several per
    forward (module docstring). Returns how many draft tokens the fill took as they were."""
    start, layout = canvas.steps, canvas.layout_version
    step([canvas], [strategy], runner, mask_id)  # S_0: an ordinary step
    forwards = 1
    while True:
        k, gap = _on_path(canvas, draft), canvas.gaps[0]
        # A gap that grew moved later positions: the next ordinary step re-aligns the cache first.
        stop = canvas.stop_reason or canvas.cancel.stopped() or canvas.finished() or canvas.layout_version != layout
        # States up to the runner's next refresh, which the cold decode would take at that step.
        room = runner.refresh_every - runner.since_refresh
        last = min(len(draft), gap.length, k + MAX_STATES, k + room) if k is not None else 0
        if stop or not k or k >= last:  # off the path (None), or S_0 committed nothing on it (0)
            break
        states = []
        for j in range(k, last):
            ids = list(canvas.ids)
            ids[gap.start: gap.start + j] = draft[:j]
            states.append(ids)
        fused = runner.fused_head([strategy])
        pos = [[p for p in range(gap.start + j, gap.end)] for j in range(k, last)]
        out = runner.variant_rows(canvas, states, pos, normed=not fused)
        if not fused:  # one LM head call for every state: most of them are visited
            out = runner.model.head_logits(torch.cat(out)).split([len(p) for p in pos])  # (M_v, V) each
        forwards += 1
        for ids, rows in zip(states, out):
            if canvas.ids == ids and not (canvas.stop_reason or canvas.cancel.stopped()):
                step([canvas], [strategy], _Recorded(runner.model, fused, rows), mask_id)
                runner.since_refresh += 1  # a step of the cold decode: the refresh schedule counts it
    canvas.steps = canvas.cancel.steps = start + forwards  # what it cost, not the steps it replayed
    gap = canvas.gaps[0]
    fill = canvas.ids[gap.start: gap.end]
    kept = 0
    while kept < min(len(fill), len(draft)) and fill[kept] == draft[kept]:
        kept += 1
    return kept
