"""Which tokens of a job's text a canvas keeps: the text nearest the gaps, cut on line boundaries.

fit(pieces, budget, newline_ids) -> pieces: pieces are the token lists around the gaps (prefix,
middles, suffix); at most `budget` tokens survive. The prefix keeps its tail (3/4 of the budget,
more when the rest is short), the suffix its head, and every middle segment of a multi-gap job its
two ends (a middle never takes more than its share, so one long middle cannot starve the prefix).
The prefix's cut moves in steps of QUANTUM tokens, then on to the next line start: while the user
types, the canvas keeps its start, so the next job can reuse this one's cache (runtime/reuse.py),
and the model never sees half a line at the edge of its window.
"""
from __future__ import annotations

QUANTUM = 32


def _line_start_after(piece: list[int], drop: int, newline_ids: frozenset[int]) -> int:
    """The first index >= drop that starts a line (just after a newline token); drop if none."""
    for i in range(max(drop, 1), len(piece)):
        if piece[i - 1] in newline_ids:
            return i
    return drop


def _line_end_before(piece: list[int], keep: int, newline_ids: frozenset[int]) -> int:
    """The largest length <= keep that ends just after a newline token; keep if none."""
    for i in range(min(keep, len(piece)) - 1, -1, -1):
        if piece[i] in newline_ids:
            return i + 1
    return keep


def keep_prefix(piece: list[int], keep: int, newline_ids: frozenset[int]) -> list[int]:
    drop = len(piece) - keep
    if drop <= 0:
        return piece
    drop = -(-drop // QUANTUM) * QUANTUM
    return piece[_line_start_after(piece, drop, newline_ids):] if drop < len(piece) else []


def keep_suffix(piece: list[int], keep: int, newline_ids: frozenset[int]) -> list[int]:
    if len(piece) <= keep:
        return piece
    return piece[:_line_end_before(piece, keep, newline_ids)] if keep > 0 else []


def keep_middle(piece: list[int], keep: int, newline_ids: frozenset[int]) -> list[int]:
    """A segment between two gaps: its head and its tail (the text next to each gap)."""
    if len(piece) <= keep:
        return piece
    return keep_suffix(piece, keep // 2, newline_ids) + keep_prefix(piece, keep - keep // 2, newline_ids)


def fit(pieces: list[list[int]], budget: int, newline_ids: frozenset[int]) -> list[list[int]]:
    budget = max(budget, 0)
    pieces = [list(p) for p in pieces]
    if len(pieces) > 2:
        share = budget // (2 * (len(pieces) - 1))  # a middle gets what one side of a gap gets
        for i in range(1, len(pieces) - 1):
            pieces[i] = keep_middle(pieces[i], share, newline_ids)
        budget -= sum(len(p) for p in pieces[1:-1])
    before, after = pieces[0], pieces[-1]
    keep_before = min(len(before), max(budget * 3 // 4, budget - len(after)))
    pieces[0] = keep_prefix(before, keep_before, newline_ids)
    if len(pieces) > 1:
        pieces[-1] = keep_suffix(after, max(budget - len(pieces[0]), 0), newline_ids)
    return pieces
