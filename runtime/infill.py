"""The denoising loop: jobs -> canvases -> steps -> results.

Each step asks the runner for the logits of every still-masked position, bans what the rules ban
(mask id everywhere; end tokens where canvas.end_allowed says no), lets the strategy choose tokens
and positions, commits them, grows gaps that filled without an end, and checks cancellation. A
canvas cancelled or past its deadline stops before its next step.
"""
from __future__ import annotations

from dataclasses import dataclass

from runtime import bans, window
from runtime.canvas import Canvas, Gap
from runtime.decoding import fused as fused_head
from runtime.jobs import CancelToken, InfillJob, InfillResult
from runtime.runner import Runner

DEFAULT_GAP = {"line": 12, "block": 32, "span": 32}
PREAMBLE_SHARE = 4  # a job's preamble gets at most 1/PREAMBLE_SHARE of the context window
LOOP_PARAMS = ("gap", "grow", "allow_empty")  # job params the loop reads; the rest go to the strategy


@dataclass
class RunOptions:
    """Engine-wide settings for the loop. cached=False is the exact (reference) path."""

    cached: bool = True
    refresh_every: int = 32  # a line completion (< 32 steps) then never pays a second full forward
    vicinity: int = 1
    max_context: int | None = None  # tokens of text kept around the gaps; None: the model's window
    reuse: bool = True  # carry a document's cache into its next job (cached path only)
    reuse_window: int = 8  # tokens recomputed on each side of what changed
    reuse_max_age: int = 3  # jobs a carried cache's K/V may survive, then a full forward (runtime/reuse.py, README)
    draft: bool = True  # start a reused job from the document's last fill, checked by the model
    head_all: bool = False  # exact path only: LM head over every row (the benches' reference loop)


def heal_indent(texts: list[str]) -> tuple[list[str], str]:
    """Move a whitespace-only last line of the first text into the gap.

    The model saw indentation tokenized together with the code after it (7 spaces + " return");
    an editor's cursor after auto-indent would cut that token in two. The gap then writes the
    indentation itself, and decode_result drops it again (the user's line already has it)."""
    head = texts[0]
    tail = head[head.rfind("\n") + 1:]
    if not tail or tail.strip(" \t"):
        return texts, ""
    return [head[: len(head) - len(tail)], *texts[1:]], tail


def context_budget(opts: RunOptions, spec) -> int:
    """Tokens of text (preamble included) a canvas keeps at most, before the gaps take their share."""
    return min(opts.max_context or spec.window, spec.window)


def text_budget(window: int, layout_tokens: int, max_context: int, gap_budget: int) -> int:
    """Tokens of text a one-gap job keeps: the window less BOS/EOS and the gap at full growth, at
    most max_context. The engine, the daemon's clients and the server size their cuts with this."""
    return max(min(max_context, window - layout_tokens - gap_budget), 0)


def build_canvas(job: InfillJob, model, tokenizer, opts: RunOptions, cancel: CancelToken) -> Canvas:
    """The job's canvas: windowed text around gaps of masks."""
    spec = model.spec
    texts, _ = heal_indent(job.texts)
    pieces = [tokenizer.encode(t) for t in texts]
    # Keep the text nearest the gaps, cut on line boundaries (runtime/window.py). Cross-file
    # context (job.preamble) keeps its head within a quarter of the text budget: cut from the left
    # like the prefix, it would be the first thing a short window loses.
    n_gaps = len(texts) - 1
    sizes = job.gap_tokens if isinstance(job.gap_tokens, list) else [job.gap_tokens] * n_gaps
    if len(sizes) != n_gaps:
        raise ValueError(f"gap_tokens has {len(sizes)} entries for {n_gaps} gaps")
    # A family may fix a gap's start and most (DreamOn: 4 masks, at most 64: its generator's min/max_gen_len).
    cap = spec.defaults.get("max_gap")
    budgets = [min(max(job.max_tokens, s or 0), cap or 1 << 30) for s in sizes]
    # The canvas at full growth stays within the model's window: text gets what the gaps leave.
    room = spec.window - len(spec.prompt_head) - len(spec.prompt_tail) - sum(budgets)
    if room < 1:
        raise ValueError(f"gaps of {sum(budgets)} tokens leave no room for text in the model's {spec.window}-token window")
    total = min(context_budget(opts, spec), room)
    preamble = tokenizer.encode(job.preamble)[: total // PREAMBLE_SHARE] if job.preamble else []
    pieces = window.fit(pieces, total - len(preamble), tokenizer.newline_ids)
    default = job.params.get("gap", spec.defaults.get("gap", DEFAULT_GAP[job.mode]))
    grow = int(job.params.get("grow", default))
    ids: list[int] = [*spec.prompt_head, *preamble]  # the family's layout (runtime/models/family.py)
    gaps = []
    for i, piece in enumerate(pieces):
        ids += piece
        if i < n_gaps:
            budget = budgets[i]
            size = min(sizes[i] or default, budget)
            gaps.append(Gap(len(ids), len(ids) + size, budget, max(grow, 1)))
            ids += [spec.mask_id] * size
    ids += spec.prompt_tail  # DreamOn: [bos] prefix gap suffix [eos]
    line_ids = tokenizer.newline_ids if job.mode == "line" else frozenset()
    return Canvas(
        ids=ids, gaps=gaps, mask_id=spec.mask_id, pad_id=spec.pad_id, stop_ids=frozenset(spec.end_ids),
        line_ids=frozenset(line_ids), allow_empty=bool(job.params.get("allow_empty", False)), cancel=cancel,
        expand_id=spec.expand_id, blank_ids=tokenizer.blank_ids, never_ids=spec.never_ids,
    )


def step(canvases: list[Canvas], strategies, runner: Runner, mask_id: int) -> None:
    """One denoising step over every live canvas of the batch."""
    positions = []
    for c in canvases:
        reason = c.stop_reason or c.cancel.stopped()
        if reason and c.stop_reason is None:
            c.stop_reason = reason
        positions.append([] if c.stop_reason else c.masked_positions())
    if not any(positions):
        return
    fused = runner.fused_head(strategies)
    # Fused: the gap rows' hidden states go through kernels.gap_head (no (M, V) logits); else logits.
    rows = runner.rows(canvases, positions, normed=False) if fused else runner.logits(canvases, positions)
    for c, strat, pos, x in zip(canvases, strategies, positions, rows):
        if not pos:
            continue
        if fused:
            tokens, probs, scores = fused_head.propose(runner.model, c, pos, x, strat)
        else:
            tokens, probs, scores = strat.propose(bans.apply(x, c, pos, mask_id))  # x: (M, V) logits
        chosen = strat.select(scores, probs)
        # Most confident first; a later pick that now breaks a rule (an end token left of content
        # placed this step, a slot already padded, an expand past the budget) waits for the next
        # step. Every pick goes to the position it was predicted for; a DreamOn canvas applies the
        # step's expansions and deletions afterwards, right to left (Canvas.settle).
        for i in chosen[scores[chosen].argsort(descending=True)].tolist():
            p, tok = pos[i], int(tokens[i])
            if not c.may_place(p, tok):
                continue
            c.place(p, tok, float(probs[i]))
            if tok in c.end_ids:
                _extend_end_run(c, pos, tokens, probs, i)
        c.settle()
        c.steps += 1
        c.cancel.steps = c.steps
        c.grow_full_gaps()


def _extend_end_run(c: Canvas, pos: list[int], tokens, probs, i: int) -> None:
    """An end token just committed at pos[i]: masked neighbours to its left whose own best guess
    is an end token join it in the same step (a gap's padding tail ends in one step, not one pad per
    step). Stops at the first neighbour that wants content, and never empties the gap. Not on a
    DreamOn canvas: there an end deletes its slot, and DreamOn commits only the picks it chose."""
    if c.dreamon:
        return
    while i > 0 and pos[i - 1] == pos[i] - 1 and int(tokens[i - 1]) in c.end_ids and c.ids[pos[i - 1]] == c.mask_id:
        if not c.end_allowed([pos[i - 1]])[0]:
            return
        i -= 1
        c.place(pos[i], int(tokens[i]), float(probs[i]))


def decode_result(canvas: Canvas, job: InfillJob, tokenizer, end_names: dict[int, str], timings) -> InfillResult:
    texts = []
    tokens = 0
    indent = heal_indent(job.texts)[1]
    for i, toks in enumerate(canvas.gap_tokens()):
        text = tokenizer.decode(toks)
        if i == 0 and indent:
            # The user's line already holds `indent`: keep only what the model wrote after it.
            text = text[len(indent):] if text.startswith(indent) else text.lstrip(" \t")
        if job.mode == "line" and "\n" in text:
            text = text.split("\n", 1)[0]
        texts.append(text)
        tokens += len(toks)
    reason = canvas.stop_reason or canvas.end_reason(end_names)
    if reason in ("cancelled", "deadline"):
        return InfillResult("", [""] * len(texts), 0, canvas.steps, reason, 0.0, timings)
    conf = sum(canvas.probs) / len(canvas.probs) if canvas.probs else 0.0
    return InfillResult(texts[0], texts, tokens, canvas.steps, reason, conf, timings)
