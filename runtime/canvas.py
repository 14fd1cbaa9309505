"""Canvas: one job's token sequence (text, gap, text, gap, ..., text) and the rules of its gaps.

Plain Python bookkeeping; no model, no device state. The rules every strategy obeys live here
(`may_place` answers them for one pick; runtime/bans.py turns them into banned ids):
- the mask id is never committed (its logit is banned before choosing);
- whitespace never makes the whole of a fill, and no fill is empty, unless empty fills are allowed.
Fixed canvases (every family but DreamOn):
- an end token (eos/pad/eot, and newline tokens in line mode) may be committed at a masked position
  only if nothing but masks or end tokens lies to its right in that gap, and not at the gap's first
  position unless empty fills are allowed; committing one turns the masks to its right into padding,
  so a filled gap never has padding in its middle;
- a gap that fills with no end token while budget remains grows by `grow` masks at its right edge.
DreamOn canvases (expand_id set; the rules of DreamLM/DreamOn eval/generator.py, docs/dreamon.md):
- a committed expand token turns its slot into two masks, while the gap's length and its count of
  expansions are both under `budget` (DreamOn's max_gen_len bounds both);
- a stop token (eos/pad/...) may be committed anywhere in the gap: its slot and every slot to its
  right that was masked when the step began are deleted (their pad_eos_to_right, then
  delete_eos_token); tokens committed in earlier steps stay. A gap never grows at its edge;
- line mode's newline keeps the right-edge rule above, and deletes the masks to its right.
A step writes every pick at the position it was predicted for (`place`); `settle` then applies the
step's expansions and deletions right to left, so that no pick lands a slot off.
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
    expanded: int = 0  # DreamOn: expand tokens committed so far (their expand_budget counts these)

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
    expand_id: int | None = None  # set: a DreamOn canvas (variable length: expand and delete)
    blank_ids: frozenset[int] = frozenset()  # whitespace-only tokens: a gap of only these counts as empty
    never_ids: frozenset[int] = frozenset()  # control tokens and padding rows: never committed (ModelSpec)
    cancel: CancelToken = field(default_factory=CancelToken)
    probs: list[float] = field(default_factory=list)  # probabilities of committed content tokens
    steps: int = 0
    commits: int = 0
    layout_version: int = 0  # bumps when a gap grows or shrinks (positions after it move: caches are stale)
    stop_reason: str | None = None
    placed: dict[int, float] = field(default_factory=dict, repr=False)  # DreamOn: this step's picks, unsettled

    def __post_init__(self) -> None:
        self.end_ids = self.stop_ids | self.line_ids  # frozen once: membership is checked per position

    @property
    def dreamon(self) -> bool:
        return self.expand_id is not None

    def masked_positions(self) -> list[int]:
        return [p for g in self.gaps for p in range(g.start, g.end) if self.ids[p] == self.mask_id]

    def may_place(self, pos: int, token: int) -> bool:
        """May `token` go to `pos` now? Picks placed earlier in this step count."""
        ok = self.ids[pos] == self.mask_id and token != self.mask_id
        if token == self.expand_id:
            ok = ok and self.expand_allowed(pos)
        elif token in self.stop_ids and self.dreamon:
            ok = ok and self.delete_allowed(pos)
        elif token in self.end_ids:
            ok = ok and self.end_allowed([pos])[0]
        return ok and not (token in self.blank_ids and self.blank_would_empty(pos))

    def end_allowed(self, positions: list[int]) -> list[bool]:
        """For each masked position: may an end token be committed there now (the right-edge rule;
        on a DreamOn canvas it governs line mode's newline, see delete_allowed for stop tokens)?"""
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

    def delete_allowed(self, pos: int) -> bool:
        """DreamOn: may a stop token go to masked `pos`? Anywhere (DreamOn bans it nowhere), unless
        the deletion would leave the gap with no mask and nothing but whitespace."""
        if self.allow_empty:
            return True
        g = self.gap_of(pos)
        cut = min([pos] + [q for q in self.placed if g.start <= q < g.end and self.ids[q] in self.stop_ids])
        for q in range(g.start, g.end):
            tok = self.ids[q]
            if q == pos or (q >= cut and (tok == self.mask_id or q in self.placed)):
                continue  # deleted with the cut
            if tok == self.mask_id or tok not in self.blank_ids:
                return True
        return False

    def expand_allowed(self, pos: int) -> bool:
        """DreamOn: may an expand token go to masked `pos`? Only while the gap is under its budget in
        length and in expansions (eval/generator.py bans expand once the window reaches max_tokens
        or expand_budget is spent). Several in one step: settle() keeps those that fit."""
        g = self.gap_of(pos)
        return self.dreamon and g.length < g.budget and g.expanded < g.budget

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
        """One pick, its layout change (DreamOn) applied at once."""
        self.place(pos, token, prob)
        self.settle()

    def place(self, pos: int, token: int, prob: float) -> None:
        """Write a pick at the position it was predicted for. On a DreamOn canvas an expand or a
        deletion changes the layout only in settle(), after the step's other picks are placed."""
        assert token != self.mask_id, "the mask id is never committed"
        self.ids[pos] = token
        if token != self.expand_id:
            self.commits += 1
        if self.dreamon:
            self.placed[pos] = prob
            return
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

    def settle(self) -> None:
        """DreamOn: apply the placed picks' expansions and deletions. Per gap the leftmost placed end
        token cuts: a stop token's slot and, right of it (of a newline: right of its slot), every slot
        masked when the step began (still a mask, or placed this step) are deleted. Each placed
        expand left of the cut becomes two masks, in the order placed (most confident first) while
        the gap's length and expansions stay within budget; the rest are masks again (they wait).
        Edits run right to left, so the positions of those not yet applied still hold."""
        placed, self.placed = self.placed, {}
        if not placed:
            return
        edits: list[tuple[int, Gap, int]] = []  # (position, gap, slots it becomes: 0 deleted, 2 masks)
        for g in self.gaps:
            mine = sorted(q for q in placed if g.start <= q < g.end)
            ends = [q for q in mine if self.ids[q] in self.end_ids]
            cut = ends[0] if ends else g.end
            gone: set[int] = set()
            if ends:
                g.end_token = self.ids[cut]
                first = cut if self.ids[cut] in self.stop_ids else cut + 1
                gone = {q for q in range(first, g.end) if self.ids[q] == self.mask_id or q in placed}
            edits += [(q, g, 0) for q in sorted(gone)]
            room = min(g.budget - g.length, g.budget - g.expanded)
            for q in placed:  # insertion order: the step's confidence order
                if not g.start <= q < g.end or q in gone:
                    continue
                if self.ids[q] != self.expand_id:
                    if self.ids[q] not in self.end_ids:
                        self.probs.append(placed[q])
                elif room > 0:
                    edits.append((q, g, 2))
                    g.expanded, room = g.expanded + 1, room - 1
                else:
                    self.ids[q] = self.mask_id
        for q, g, slots in sorted(edits, key=lambda e: -e[0]):
            if slots == 2:
                self.ids[q] = self.mask_id
            self._resize(g, q, slots - 1)

    def grow_full_gaps(self) -> bool:
        """Open more masks in gaps that filled with content and have budget left; True if any grew.
        DreamOn gaps never grow at the edge: their length moves only by expand and delete."""
        if self.dreamon:
            return False
        grew = False
        for g in list(self.gaps):
            if g.end_token is not None or g.length >= g.budget:
                continue
            if any(self.ids[p] == self.mask_id for p in range(g.start, g.end)):
                continue
            self._resize(g, g.end, min(g.grow, g.budget - g.length))
            grew = True
        return grew

    def _resize(self, gap: Gap, at: int, delta: int) -> None:
        """Open `delta` more masks at position `at` of `gap` (delta < 0: delete -delta slots from
        `at`); later gaps move with it."""
        if delta > 0:
            self.ids[at:at] = [self.mask_id] * delta
        else:
            del self.ids[at:at - delta]
        gap.end += delta
        after = next(i for i, g in enumerate(self.gaps) if g is gap) + 1  # by identity: empty gaps may be equal
        for later in self.gaps[after:]:
            later.start += delta
            later.end += delta
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
        """A gap without an end token stopped at its budget; but a DreamOn gap under its budget
        ended because the model chose its length (it could have expanded): "eos"."""
        if any(g.end_token is None and (not self.dreamon or g.length >= g.budget) for g in self.gaps):
            return "budget"
        first = self.gaps[0].end_token
        return "eos" if first is None else names.get(first, "eol")
