"""Which ids a masked position may not take this step, from the canvas rules (runtime/canvas.py):
the mask id never; the expand id where the gap is at its budget; end tokens where an end is not
allowed; whitespace tokens where they would leave the gap empty.

row_bans(canvas, positions) -> per position a key (end, blank, expand) of booleans;
banned_ids(canvas, key, mask_id, device) -> the (K,) ids that key bans;
apply(logits (M, V), canvas, positions, mask_id) -> the logits with banned ids at -inf (in place).
"""
from __future__ import annotations

import functools

import torch

from runtime.canvas import Canvas

BanKey = tuple[bool, bool, bool]  # (end tokens, whitespace tokens, expand token) banned


@functools.lru_cache(maxsize=64)
def _id_tensor(ids: frozenset[int], device: torch.device) -> torch.Tensor:
    """A sorted id tensor for a canvas's id set, built once per set and device, not once per step
    (a real vocabulary has thousands of newline ids; frozensets cache their hash)."""
    return torch.tensor(sorted(ids), dtype=torch.long, device=device)


def row_bans(canvas: Canvas, positions: list[int]) -> list[BanKey]:
    ends = canvas.end_allowed(positions)
    keys = []
    for p, end_ok in zip(positions, ends):
        expand = canvas.expand_id is not None and canvas.gap_of(p).length >= canvas.gap_of(p).budget
        keys.append((not end_ok, canvas.blank_would_empty(p), expand))
    return keys


def banned_ids(canvas: Canvas, key: BanKey, mask_id: int, device) -> torch.Tensor:
    ids = {mask_id}
    if key[0]:
        ids |= canvas.end_ids
    if key[1]:
        ids |= canvas.blank_ids
    if key[2]:
        ids.add(canvas.expand_id)
    return _id_tensor(frozenset(ids), torch.device(device))


def apply(logits: torch.Tensor, canvas: Canvas, positions: list[int], mask_id: int) -> torch.Tensor:
    logits[:, mask_id] = float("-inf")
    keys = row_bans(canvas, positions)
    for col, ids in ((0, canvas.end_ids), (1, canvas.blank_ids), (2, frozenset({canvas.expand_id}))):
        rows = [i for i, k in enumerate(keys) if k[col]]
        if rows:
            index = _id_tensor(frozenset(ids), logits.device)
            logits[torch.tensor(rows, device=logits.device)[:, None], index[None, :]] = float("-inf")
    return logits
