"""Canvas: one job's token sequence (text, gap, text, gap, ..., text) and the rules of its gaps.

Plain Python bookkeeping; no model, no device state. The rules every strategy obeys live here:
- the mask id is never committed (its logit is banned before choosing);
- an end token (eos/pad/eot, and newline tokens in line mode) may be committed at a masked position
  only if nothing but masks or end tokens lies to its right in that gap, and not at the gap's first
  position unless empty fills are allowed; committing one turns the masks to its right into padding,
  so a filled gap never has padding in its middle;
- a gap that fills with no end token while budget remains grows by `grow` masks at its right edge;
- checkpoints trained for variable length (DreamOn) have an expand token: committing it turns that
  slot into two masks (the gap grows by one), allowed only while the gap is under its budget.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from runtime.jobs import CancelToken


@dataclass
class Gap:
    start: int
    end: int  # exclusive
    budget: int  # most tokens this gap may hold
    grow: int
    end_token: int | None = None  # the end token that closed it, if any

    @property
    def length(self) -> int:
        return self.end - self.start


@dataclass
class Canvas:
    ids: list[int]
    gaps: list[Gap]
    mask_id: int
    pad_id: int
    stop_ids: frozenset[int]  # eos / pad / eot: close a gap and are not part of its text
    line_ids: frozenset[int] = frozenset()  # line mode: newline tokens close a gap, text cut at the newline
    allow_empty: bool = False
    expand_id: int | None = None
    blank_ids: frozenset[int] = frozenset()  # whitespace-only tokens: a gap of only these counts as empty
    cancel: CancelToken = field(default_factory=CancelToken)
    probs: list[float] = field(default_factory=list)  # probabilities of committed content tokens
    steps: int = 0
    commits: int = 0
    layout_version: int = 0  # bumps when a gap grows (positions after it move: caches are stale)
    stop_reason: str | None = None

    def __post_init__(self) -> None:
        self.end_ids = self.stop_ids | self.line_ids  # frozen once: membership is checked per position

    def masked_positions(self) -> list[int]:
        return [p for g in self.gaps for p in range(g.start, g.end) if self.ids[p] == self.mask_id]

    def end_allowed(self, positions: list[int]) -> list[bool]:
        """For each masked position: may an end token be committed there now?"""
        allowed = {}
        for g in self.gaps:
            # An end at p would leave the gap empty if everything left of p is committed whitespace
            # (a weak model likes to write the indentation and stop): then it is not allowed.
            content_left, left = [], False
            for p in range(g.start, g.end):
                content_left.append(left)
                left = left or self.ids[p] not in self.blank_ids
            clear_right = True  # only masks / end tokens seen so far, scanning right to left
            for p in range(g.end - 1, g.start - 1, -1):
                tok = self.ids[p]
                if tok == self.mask_id:
                    allowed[p] = clear_right and (content_left[p - g.start] or self.allow_empty)
                elif tok not in self.end_ids:
                    clear_right = False
        return [allowed[p] for p in positions]

    def blank_would_empty(self, pos: int) -> bool:
        """Would a whitespace token at masked `pos` leave its gap with only whitespace before an end
        token already committed to its right? (Then the fill would be empty: not allowed.)"""
        if self.allow_empty or not self.blank_ids:
            return False
        g = self.gap_of(pos)
        end = next((q for q in range(pos + 1, g.end) if self.ids[q] in self.end_ids), None)
        return end is not None and all(q == pos or self.ids[q] in self.blank_ids for q in range(g.start, end))

    def gap_of(self, pos: int) -> Gap:
        return next(g for g in self.gaps if g.start <= pos < g.end)

    def commit(self, pos: int, token: int, prob: float) -> None:
        assert token != self.mask_id, "the mask id is never committed"
        if token == self.expand_id:
            self._insert_masks(self.gap_of(pos), pos, 1)  # this slot becomes two masks
            return
        self.ids[pos] = token
        self.commits += 1
        if token in self.end_ids:
            gap = self.gap_of(pos)
            if gap.end_token is None or pos < self._end_pos(gap):
                gap.end_token = token
            for q in range(pos + 1, gap.end):
                if self.ids[q] == self.mask_id:
                    self.ids[q] = self.pad_id
        else:
            self.probs.append(prob)

    def _end_pos(self, gap: Gap) -> int:
        return next(p for p in range(gap.start, gap.end) if self.ids[p] in self.end_ids)

    def grow_full_gaps(self) -> bool:
        """Open more masks in gaps that filled with content and have budget left; True if any grew."""
        grew = False
        for g in list(self.gaps):
            if g.end_token is not None or g.length >= g.budget:
                continue
            if any(self.ids[p] == self.mask_id for p in range(g.start, g.end)):
                continue
            self._insert_masks(g, g.end, min(g.grow, g.budget - g.length))
            grew = True
        return grew

    def _insert_masks(self, gap: Gap, at: int, count: int) -> None:
        """Open `count` more masks at position `at` of `gap`; later gaps move right."""
        self.ids[at:at] = [self.mask_id] * count
        gap.end += count
        for later in self.gaps[self.gaps.index(gap) + 1:]:
            later.start += count
            later.end += count
        self.layout_version += 1

    def finished(self) -> bool:
        return not self.masked_positions()

    def gap_tokens(self) -> list[list[int]]:
        """Each gap's committed tokens up to its first end token."""
        out = []
        for g in self.gaps:
            toks = []
            for p in range(g.start, g.end):
                tok = self.ids[p]
                if tok in self.stop_ids:
                    break
                toks.append(tok)
                if tok in self.line_ids:
                    break  # its text is cut at the newline when decoded
            out.append(toks)
        return out

    def end_reason(self, names: dict[int, str]) -> str:
        if any(g.end_token is None for g in self.gaps):
            return "budget"
        return names.get(self.gaps[0].end_token, "eol")
