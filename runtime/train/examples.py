"""Training examples for masked diffusion: token stream -> batches of plain tensors (no model code).

Contract
--------
sample_batch(tokens, batch_size, seq_len, rng, newline_id, mask_id, pad_id, eos_id, p_infill=0.6)
returns {"input_ids", "targets"} (B, T) long, "loss_mask" (B, T) bool, "weights" (B, T) float32 (zero
where loss_mask is False), "kind" (B,) long (0 diffusion, 1 infill, 2 several gaps, 3 causal), "causal"
(B,) bool (the row attends causally: kind 3) and "gap" (B, 2) long, the
[start, end) of an infill row's gap ((0, 0) for diffusion rows). `targets` holds the true token
everywhere; only positions in loss_mask count. The loss the weights are made for is
    sum(weights * cross_entropy(logits, targets)) / (B * T)
i.e. the masked-diffusion ELBO estimate (each row's masked tokens weighted 1/t).

Row kinds (all randomness from `rng`, a numpy Generator, so a seed fixes the batch):
- causal (p_ar, taken first; kind 3): a random window, nothing masked, every position in the loss
  (weight 1), attended causally. With shifted logits (output i predicts token i+1) this is plain
  next-token training, the densest signal per forward there is: every position teaches, where a
  masked row teaches only its masks. It shares the weights with the masked rows (Dream and DiffuCoder
  start from autoregressive weights for the same reason); the loss (runtime/train/loop.py) shifts.
- diffusion (1 - p_infill): a random window of the stream; t ~ U(eps, 1); each token masked with
  probability t (at least one); loss on masked tokens, weight 1/t.
- infill (p_infill): the editor's task. A middle that is whole lines (1 line: 50 %, 2..8 lines: 25 %)
  or the rest of a line from a random token (25 %); its last newline goes with the middle or with the
  suffix (50/50). The canvas is prefix + middle + [pad] * s + suffix with s ~ U{0..max_slack}, exactly
  seq_len long (prefix and suffix windows are cut to fit). The gap (middle + pads) targets the middle
  then pads, so pads only ever sit at the gap's right edge, the rule the decoder enforces. A fraction
  t ~ U(eps, 1) of the gap positions is masked (at least one): the model also learns from partly
  filled gaps. Loss on masked gap positions, weight 1/t; prefix and suffix are never in the loss.
- several gaps (p_multi of the infill rows; kind 2): 2..max_gaps middles of 1-3 whole lines each,
  at least one line of text between them, each followed by its own 0..max_slack pads; one t for the
  row. Each forward then teaches several fills instead of one (the loss positions of an infill row
  are few), and the model learns fillHoles' joint gaps. "gap" holds the first gap.
- left-to-right masking (p_ltr of the infill rows, kinds 1 and 2): instead of masking gap positions
  independently, each gap keeps a head of its middle (possibly empty; or, when there are pads, the
  whole middle, as likely as any other cut) and masks the rest, loss weight 1. This is the canvas
  that ltr decoding builds (committed text on the left, only masks on the right, then the suffix);
  independent masking almost never shows a long gap that way, and a model trained only on it did
  not learn to end a fill: on held-out infill rows with the middle visible and 17-32 masks left
  before the suffix, the 26 M-token checkpoint gave the first pad 0.2 % on average (session 4), so
  block fills ran to their budget.
- edit corruption (p_edit > 0, off by default; Seed Diffusion style): each unmasked token that could
  be in the loss region (the whole window for diffusion rows, the gap for infill rows) is replaced by
  a random non-special token with probability p_edit; the model must predict the original (weight 1).
"""
from __future__ import annotations

import numpy as np
import torch


def sample_batch(
    tokens: np.ndarray,
    batch_size: int,
    seq_len: int,
    rng: np.random.Generator,
    newline_id: int,
    mask_id: int,
    pad_id: int,
    eos_id: int,
    p_infill: float = 0.6,
    max_slack: int = 32,
    max_middle: int | None = None,
    eps: float = 1e-3,
    p_edit: float = 0.0,
    vocab_size: int | None = None,
    p_multi: float = 0.0,
    max_gaps: int = 4,
    p_ar: float = 0.0,
    p_ltr: float = 0.0,
) -> dict[str, torch.Tensor]:
    if len(tokens) < 3 * seq_len + 2:
        raise ValueError(f"token stream of {len(tokens)} is too short for seq_len {seq_len}")
    if p_edit > 0 and vocab_size is None:
        raise ValueError("p_edit > 0 needs vocab_size")
    max_middle = max_middle or seq_len // 2
    rows = []
    for _ in range(batch_size):
        row = None
        if p_ar > 0 and rng.random() < p_ar:
            rows.append(causal_row(tokens, seq_len, rng))
            continue
        if rng.random() < p_infill:
            if rng.random() < p_multi:
                n_gaps = int(rng.integers(2, max_gaps + 1))
                row = multi_infill_row(tokens, seq_len, rng, newline_id, mask_id, pad_id, eos_id, max_slack, eps, n_gaps)
            row = row or infill_row(tokens, seq_len, rng, newline_id, mask_id, pad_id, eos_id, max_slack, max_middle, eps)
            if p_ltr > 0 and row["kind"] in (1, 2) and rng.random() < p_ltr:
                ltr_mask(row, rng, mask_id, pad_id)
        else:
            row = diffusion_row(tokens, seq_len, rng, mask_id, eps)
        if p_edit > 0:
            corrupt(row, rng, p_edit, vocab_size, (mask_id, pad_id, eos_id))
        rows.append(row)
    out = {key: torch.from_numpy(np.stack([r[key] for r in rows])) for key in ("input_ids", "targets", "loss_mask", "weights")}
    out["kind"] = torch.tensor([r["kind"] for r in rows], dtype=torch.long)  # (B,)
    out["gap"] = torch.tensor([r["gap"] for r in rows], dtype=torch.long)  # (B, 2)
    out["causal"] = out["kind"] == 3  # (B,)
    return out


def causal_row(tokens: np.ndarray, seq_len: int, rng: np.random.Generator) -> dict:
    start = int(rng.integers(0, len(tokens) - seq_len + 1))
    targets = np.asarray(tokens[start:start + seq_len], dtype=np.int64)  # (T,)
    every = np.ones(seq_len, dtype=bool)
    return {"input_ids": targets, "targets": targets, "loss_mask": every, "weights": every.astype(np.float32),
            "region": every, "kind": 3, "gap": (0, 0)}


def diffusion_row(tokens: np.ndarray, seq_len: int, rng: np.random.Generator, mask_id: int, eps: float) -> dict:
    start = int(rng.integers(0, len(tokens) - seq_len + 1))
    targets = np.asarray(tokens[start:start + seq_len], dtype=np.int64)  # (T,)
    region = np.ones(seq_len, dtype=bool)
    return masked_row(targets, region, rng, mask_id, eps, kind=0)


def infill_row(
    tokens: np.ndarray,
    seq_len: int,
    rng: np.random.Generator,
    newline_id: int,
    mask_id: int,
    pad_id: int,
    eos_id: int,
    max_slack: int,
    max_middle: int,
    eps: float,
) -> dict:
    slack = int(rng.integers(0, max_slack + 1))
    budget = min(max_middle, seq_len - slack - 2)  # keep >= 1 token of prefix and of suffix
    for _ in range(16):  # a few tries to find a non-empty middle that fits; else a diffusion row
        # The chunk covers [p - seq_len, p + 2 * seq_len): room for any prefix before and middle +
        # suffix after an anchor p.
        p = int(rng.integers(seq_len, len(tokens) - 2 * seq_len + 1))
        chunk = np.asarray(tokens[p - seq_len:p + 2 * seq_len], dtype=np.int64)  # (3T,)
        span = pick_middle(chunk, seq_len, rng, newline_id, eos_id, budget)
        if span is not None:
            break
    else:
        return diffusion_row(tokens, seq_len, rng, mask_id, eps)
    lo, hi = span
    middle = chunk[lo:hi]
    gap = len(middle) + slack
    context = seq_len - gap
    # Prefix share ~ U(0.2, 0.9) of the context: editors usually see more code above the cursor.
    n_prefix = min(lo, context - 1, max(1, int(round(context * rng.uniform(0.2, 0.9)))))
    n_suffix = context - n_prefix
    if n_suffix > len(chunk) - hi:  # not reachable with the chunk sizes above; kept as a guard
        n_suffix = len(chunk) - hi
        n_prefix = context - n_suffix
    targets = np.concatenate([
        chunk[lo - n_prefix:lo], middle, np.full(slack, pad_id, dtype=np.int64), chunk[hi:hi + n_suffix],
    ])  # (T,)
    region = np.zeros(seq_len, dtype=bool)
    region[n_prefix:n_prefix + gap] = True
    return masked_row(targets, region, rng, mask_id, eps, kind=1) | {"gap": (n_prefix, n_prefix + gap)}


def multi_infill_row(
    tokens: np.ndarray,
    seq_len: int,
    rng: np.random.Generator,
    newline_id: int,
    mask_id: int,
    pad_id: int,
    eos_id: int,
    max_slack: int,
    eps: float,
    n_gaps: int,
) -> dict | None:
    """A window with up to n_gaps whole-line middles, each followed by its pads; None if none fit."""
    p = int(rng.integers(0, len(tokens) - 2 * seq_len + 1))
    chunk = np.asarray(tokens[p:p + 2 * seq_len], dtype=np.int64)  # (2T,)
    ends = np.flatnonzero(chunk == newline_id)  # ends[k]: the newline that ends line k
    pieces, regions, used, prev_hi = [], [], 0, 0
    j = int(rng.integers(1, 6))  # the first middle starts after j lines of text
    while len(regions) < n_gaps and j < len(ends):
        lo = int(ends[j - 1]) + 1
        last = min(j + (0 if rng.random() < 0.75 else int(rng.integers(1, 3))), len(ends) - 1)
        hi = int(ends[last]) + (1 if rng.random() < 0.5 else 0)  # the newline in the middle or the text after
        if ends[j] == lo or hi <= lo or (chunk[lo:hi] == eos_id).any():  # blank first line, or a file boundary
            j += 1
            continue
        slack = int(rng.integers(0, max_slack + 1))
        text = chunk[prev_hi:lo]
        if used + len(text) + (hi - lo) + slack + 1 > seq_len:  # keep >= 1 token of text after the last gap
            break
        regions.append((used + len(text), used + len(text) + hi - lo + slack))
        pieces += [text, chunk[lo:hi], np.full(slack, pad_id, dtype=np.int64)]
        used, prev_hi = regions[-1][1], hi
        j = last + 1 + int(rng.integers(1, 4))  # at least one line of text before the next middle
    rest = chunk[prev_hi:prev_hi + seq_len - used]
    if not regions or len(rest) < seq_len - used:
        return None
    targets = np.concatenate(pieces + [rest])  # (T,)
    region = np.zeros(seq_len, dtype=bool)
    for lo, hi in regions:
        region[lo:hi] = True
    return masked_row(targets, region, rng, mask_id, eps, kind=2) | {"gap": regions[0], "gaps": regions}


def pick_middle(
    chunk: np.ndarray, seq_len: int, rng: np.random.Generator, newline_id: int, eos_id: int, budget: int
) -> tuple[int, int] | None:
    """(lo, hi) of a middle in chunk, starting at or after seq_len: whole lines or a line's rest."""
    newlines = np.flatnonzero(chunk == newline_id)
    # Line starts at/after the anchor: the token after a newline. Lines are [start, next newline].
    after = newlines[(newlines >= seq_len - 1) & (newlines < len(chunk) - 1)]
    if len(after) < 2:
        return None
    roll = rng.random()
    n_lines = 1 if roll < 0.75 else int(rng.integers(2, 9))
    first = int(rng.integers(0, min(4, len(after) - 1)))
    lo = int(after[first]) + 1
    ends = after[first + 1:first + 1 + n_lines]  # newline index ending each line of the middle
    if len(ends) == 0 or ends[0] == lo:  # empty first line: the editor never asks for a blank line
        return None
    if roll >= 0.5 and roll < 0.75:  # rest of the line: start at a random token inside it
        if ends[0] - lo < 2:
            return None
        lo = int(rng.integers(lo + 1, ends[0]))
        ends = ends[:1]
    hi = int(ends[-1]) + (1 if rng.random() < 0.5 else 0)  # newline in the middle or left to the suffix
    while hi - lo > budget and len(ends) > 1:  # drop lines until the middle fits
        ends = ends[:-1]
        hi = int(ends[-1]) + 1
    if hi - lo > budget or hi <= lo or (chunk[lo:hi] == eos_id).any():  # never a file boundary inside
        return None
    return lo, hi


def masked_row(targets: np.ndarray, region: np.ndarray, rng: np.random.Generator, mask_id: int, eps: float, kind: int) -> dict:
    """Mask each position of `region` with probability t ~ U(eps, 1) (at least one); weight 1/t."""
    t = float(rng.uniform(eps, 1.0))
    masked = region & (rng.random(len(targets)) < t)
    if not masked.any():
        masked[rng.choice(np.flatnonzero(region))] = True
    input_ids = np.where(masked, mask_id, targets)
    weights = np.where(masked, 1.0 / t, 0.0).astype(np.float32)
    return {"input_ids": input_ids, "targets": targets, "loss_mask": masked, "weights": weights,
            "region": region, "kind": kind, "gap": (0, 0)}


def ltr_mask(row: dict, rng: np.random.Generator, mask_id: int, pad_id: int) -> None:
    """Re-mask the row's region left to right: in each contiguous run of it (a middle, then its pads)
    a head stays visible and the rest is masked; every masked position weighs 1. The cut is uniform
    over the middle's positions and, when the gap has pads, its end: the decoder's question "is this
    fill done?" comes up once per fill, as often as ltr decoding asks it. (A cut inside the pads
    would only teach that a pad follows a pad; a cut forced to the end a quarter of the time made
    the model end single lines after one token: HumanEval single-line 5.5 % -> 2.0 % in 4 M tokens.)"""
    region = row["region"]
    edges = np.flatnonzero(np.diff(np.concatenate([[0], region.astype(np.int8), [0]])))  # run starts, ends
    masked = np.zeros_like(region)
    for a, b in zip(edges[::2], edges[1::2]):
        pads = np.flatnonzero(row["targets"][a:b] == pad_id)
        end = a + int(pads[0]) if len(pads) else b  # the middle is [a, end)
        cut = int(rng.integers(a, end + 1 if end < b else max(end, a + 1)))
        masked[cut:b] = True
    row["input_ids"] = np.where(masked, mask_id, row["targets"])
    row["loss_mask"] = masked
    row["weights"] = masked.astype(np.float32)


def corrupt(row: dict, rng: np.random.Generator, p_edit: float, vocab_size: int, specials: tuple[int, ...]) -> None:
    """Replace unmasked tokens of the row's region by random tokens; the loss asks for the original."""
    candidates = row["region"] & ~row["loss_mask"]
    hit = candidates & (rng.random(len(candidates)) < p_edit)
    if not hit.any():
        return
    row["input_ids"] = row["input_ids"].copy()
    specials = sorted(set(specials))
    values = rng.integers(0, vocab_size - len(specials), int(hit.sum()))
    for s in specials:  # shift past each special id: a uniform draw over the non-special ids
        values[values >= s] += 1
    row["input_ids"][hit] = values
    row["loss_mask"] = row["loss_mask"] | hit
    row["weights"] = np.where(hit, 1.0, row["weights"]).astype(np.float32)
