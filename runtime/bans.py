"""Which ids a masked position may not take this step, from the canvas rules (runtime/canvas.py):
the mask id never; stop tokens where an end (fixed canvas) or a deletion (DreamOn) is not allowed;
line mode's newlines where an end is not allowed; whitespace tokens where they would leave the gap
empty; DreamOn's expand id where the gap has no room or no expansions left.

row_bans(canvas, positions) -> per position a key (stop, line, blank, expand) of booleans;
banned_ids(canvas, key, mask_id, device) -> the (K,) ids that key bans;
apply(logits (M, V), canvas, positions, mask_id) -> the logits with banned ids at -inf (in place).
"""
from __future__ import annotations

import functools

import torch

from runtime.canvas import Canvas

BanKey = tuple[bool, bool, bool, bool]  # (stop tokens, newline tokens, whitespace tokens, expand token) banned


@functools.lru_cache(maxsize=64)
def _id_tensor(ids: frozenset[int], device: torch.device) -> torch.Tensor:
    """A sorted id tensor for a canvas's id set, built once per set and device, not once per step
    (a real vocabulary has thousands of newline ids; frozensets cache their hash)."""
    return torch.tensor(sorted(ids), dtype=torch.long, device=device)


def _columns(canvas: Canvas) -> tuple[frozenset[int], ...]:
    """The id set each BanKey column bans."""
    return canvas.stop_ids, canvas.line_ids, canvas.blank_ids, frozenset({canvas.expand_id}) - {None}


def row_bans(canvas: Canvas, positions: list[int]) -> list[BanKey]:
    ends = canvas.end_allowed(positions)
    keys = []
    for p, end_ok in zip(positions, ends):
        stop_ok = canvas.delete_allowed(p) if canvas.dreamon else end_ok
        line_ok = end_ok or not canvas.line_ids  # no newline ids: no column (fewer distinct keys)
        expand = canvas.dreamon and not canvas.expand_allowed(p)
        keys.append((not stop_ok, not line_ok, canvas.blank_would_empty(p), expand))
    return keys


def banned_ids(canvas: Canvas, key: BanKey, mask_id: int, device) -> torch.Tensor:
    ids = {mask_id, *canvas.never_ids}
    for banned, col in zip(key, _columns(canvas)):
        if banned:
            ids |= col
    return _id_tensor(frozenset(ids), torch.device(device))


def apply(logits: torch.Tensor, canvas: Canvas, positions: list[int], mask_id: int) -> torch.Tensor:
    logits[:, mask_id] = float("-inf")
    if canvas.never_ids:
        logits[:, _id_tensor(canvas.never_ids, logits.device)] = float("-inf")
    keys = row_bans(canvas, positions)
    for col, ids in enumerate(_columns(canvas)):
        rows = [i for i, k in enumerate(keys) if k[col]]
        if rows and ids:
            index = _id_tensor(ids, logits.device)
            logits[torch.tensor(rows, device=logits.device)[:, None], index[None, :]] = float("-inf")
    return logits
