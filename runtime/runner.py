"""Model runner: owns the device state of one denoising batch and answers "the logits of these
positions of these canvases, now".

exact  : a full bidirectional forward over every canvas each step (the reference path; with
         head_all it also runs the LM head over every row, as a transformers forward does).
cached : dual cache. A full forward fills the K/V cache of every position (prefix, gaps, suffix);
         later steps run only the gap rows (plus `vicinity` rows on each side and, for shifted
         models, the row before each gap) against the cached context. The context's K/V depend on
         the gap in a bidirectional model, so they are refreshed by a full forward every
         `refresh_every` steps, and whenever a gap grows in a batch of several canvases (positions
         move); a single canvas's growth re-aligns its cache instead (runtime/reuse.py).
         `age` counts the jobs the oldest cached K/V have survived since a full forward computed
         them (0: this job's own prefill or refresh; a job started from a carried cache adds one).
"""
from __future__ import annotations

import torch

from runtime.canvas import Canvas
from runtime.decoding import fused
from runtime.layers import KVCache
from runtime.reuse import Carried, transplant
from runtime.models.base import DiffusionLM

VARIANT_CACHE_BYTES = 1 << 28  # variant_rows copies the cache once per variant: at most this much at a time


class Runner:
    def __init__(self, model: DiffusionLM, cached: bool = True, refresh_every: int = 32, vicinity: int = 1,
                 head_all: bool = False) -> None:
        if refresh_every < 1 or vicinity < 0:
            raise ValueError("refresh_every must be >= 1 and vicinity >= 0")
        self.model, self.cached = model, cached
        self.refresh_every, self.vicinity = refresh_every, vicinity
        self.head_all = head_all  # benches' reference loop: logits for every row, then pick the gap's
        self.shift = 1 if model.spec.shifted else 0
        self.cache = None
        self.layouts: list[tuple[int, int]] | None = None
        self.since_refresh = 0
        self.age = 0  # jobs the oldest cached K/V have survived since a full forward (module docstring)
        self.full_forwards = 0
        self.row_forwards = 0
        self.pending_rows: list[set[int]] | None = None  # stale rows the next gap-only step recomputes
        self.last_ids: list[int] | None = None  # a one-canvas batch's ids at the last forward

    def fused_head(self, strategies) -> bool:
        """Whether this step's proposals come from kernels.gap_head (runtime/decoding/fused.py)."""
        return not self.head_all and fused.usable(self.model, strategies)

    def start_from(self, canvas: Canvas, cache, stale_rows: list[int], age: int = 0) -> None:
        """Begin a one-canvas batch from a carried cache (runtime/reuse.py) instead of a full forward;
        age: the jobs its oldest K/V have survived since a full forward, this one included."""
        self.cache, self.age = cache, age
        self.key_mask = torch.ones(1, len(canvas.ids), dtype=torch.bool, device=self.model.device)
        self.layouts = [(len(canvas.ids), canvas.layout_version)]
        self.pending_rows = [set(stale_rows)]
        self.since_refresh = 1

    def _batch(self, canvases: list[Canvas]):
        dev = self.model.device
        length = max(len(c.ids) for c in canvases)
        ids = torch.full((len(canvases), length), canvases[0].pad_id, dtype=torch.long)
        key_mask = torch.zeros(len(canvases), length, dtype=torch.bool)
        for b, c in enumerate(canvases):
            ids[b, : len(c.ids)] = torch.tensor(c.ids)
            key_mask[b, : len(c.ids)] = True
        return ids.to(dev), key_mask.to(dev)  # (B, T), (B, T)

    def _src_rows(self, positions: list[int]) -> list[int]:
        """Row whose output predicts each position (the row before it in shifted models)."""
        return [max(p - self.shift, 0) for p in positions]

    @torch.no_grad()
    def logits(self, canvases: list[Canvas], positions: list[list[int]]) -> list[torch.Tensor]:
        """positions[b]: canvas b's positions to predict -> one (M_b, V) fp32 logits tensor per canvas."""
        if self.head_all and (not self.cached or self.cache is None):
            hidden = self._full(canvases, positions)  # (B, T, C)
            self.layouts = [(len(c.ids), c.layout_version) for c in canvases]
            every = self.model.head_logits(hidden)  # (B, T, V): the reference computes every row's logits
            return [every[b, self._rows_tensor(self._src_rows(pos), every.device)] for b, pos in enumerate(positions)]
        return [self.model.head_logits(h) for h in self.rows(canvases, positions)]

    @torch.no_grad()
    def rows(self, canvases: list[Canvas], positions: list[list[int]], normed: bool = True) -> list[torch.Tensor]:
        """positions[b] -> the hidden state (M_b, C) of the row predicting each position, after the
        final norm (normed=False: before it, for kernels.gap_head)."""
        layouts = [(len(c.ids), c.layout_version) for c in canvases]
        if layouts != self.layouts and self.cached and self.cache is not None and len(canvases) == 1:
            self._realign(canvases[0])
        full = (
            not self.cached or self.cache is None or layouts != self.layouts or self.since_refresh >= self.refresh_every
        )
        if full:
            hidden, index = self._full(canvases, positions, normed), None
        else:
            hidden, index = self._rows(canvases, positions, normed)
        self.layouts = layouts
        self.last_ids = list(canvases[0].ids) if len(canvases) == 1 else None
        out = []
        for b, pos in enumerate(positions):
            src = self._src_rows(pos)
            if index is not None:
                src = [index[b][r] for r in src]
            out.append(hidden[b, self._rows_tensor(src, hidden.device)])  # (M_b, C)
        return out

    def _realign(self, canvas: Canvas) -> None:
        """A one-canvas batch whose gap grew (masks inserted, later positions moved): re-align the
        cache like a keystroke's (runtime/reuse.py) instead of a full forward; the new masks and
        what changed since the last forward are recomputed by the next gap-only step."""
        if self.last_ids is None or self.since_refresh >= self.refresh_every:
            return
        seeded = transplant(Carried(self.last_ids, self.cache), canvas.ids, self.model, window=0)
        if seeded is not None:
            since = self.since_refresh
            self.start_from(canvas, *seeded, age=self.age)
            self.since_refresh = since  # the refresh schedule runs on

    @staticmethod
    def _rows_tensor(rows: list[int], device) -> torch.Tensor:
        return torch.tensor(rows, dtype=torch.long, device=device)

    def _full(self, canvases, positions, normed: bool = True) -> torch.Tensor:
        ids, self.key_mask = self._batch(canvases)
        self.cache = self.model.new_cache() if self.cached else None
        self.pending_rows = None  # a full forward recomputes every row
        self.since_refresh = 1  # the full forward is one of the R steps of a refresh period
        self.age = 0
        self.full_forwards += 1
        return self.model.hidden(ids, key_mask=self.key_mask, cache=self.cache, final_norm=normed)  # (B, T, C)

    def _step_rows(self, canvas: Canvas, pos: list[int]) -> set[int]:
        """The rows a gap-only step runs for one canvas: each gap with `vicinity` rows on each side
        (and the row before it in shifted models), and the rows predicting `pos`."""
        rows = set(self._src_rows(pos))
        if pos:  # a finished canvas in a live batch needs no rows
            for g in canvas.gaps:
                lo = max(g.start - self.vicinity - self.shift, 0)
                rows.update(range(lo, min(g.end + self.vicinity, len(canvas.ids))))
        return rows

    def _rows(self, canvases, positions, normed: bool = True):
        """Gap-only forward; returns hidden (B, N, C) and, per canvas, a map row -> index in N."""
        row_sets = []
        for c, pos in zip(canvases, positions):
            rows = self._step_rows(c, pos)
            if self.pending_rows is not None:
                rows.update(self.pending_rows[len(row_sets)])
            row_sets.append(sorted(rows) or [0])
        self.pending_rows = None
        width = max(len(r) for r in row_sets)
        # Pad each row list by repeating its last row: the duplicate writes store identical K/V.
        padded = [r + [r[-1]] * (width - len(r)) for r in row_sets]
        rows = torch.tensor(padded, dtype=torch.long)  # (B, N)
        ids = torch.tensor([[c.ids[p] for p in r] for c, r in zip(canvases, padded)], dtype=torch.long)
        dev = self.model.device
        rows, ids = rows.to(dev), ids.to(dev)
        hidden = self.model.hidden(ids, positions=rows, key_mask=self.key_mask, cache=self.cache, rows=rows,
                                   final_norm=normed)  # (B, N, C)
        self.since_refresh += 1
        self.row_forwards += 1
        return hidden, [{row: i for i, row in enumerate(r)} for r in row_sets]

    @torch.no_grad()
    def variant_rows(self, canvas: Canvas, variants: list[list[int]], positions: list[list[int]],
                     normed: bool = True) -> list[torch.Tensor]:
        """Versions of the batch's one canvas that differ only inside its gaps (the states a draft's
        check replays, runtime/draft.py): for each, the hidden rows (M_v, C) predicting positions[v],
        as a gap-only step of that version would compute them against the current cache. One forward
        per VARIANT_CACHE_BYTES of cache copies; the cache itself is left as it is. Call after a step
        of this canvas (the cache is current, nothing pending)."""
        assert self.cached and self.cache is not None and self.pending_rows is None
        assert self.layouts == [(len(canvas.ids), canvas.layout_version)], "the cache is of another layout"
        rows = sorted(set().union(*(self._step_rows(canvas, pos) for pos in positions)))
        index = {r: i for i, r in enumerate(rows)}
        per = sum(t[:1].numel() * t.element_size() for t in self.cache.k + self.cache.v)
        chunk = max(1, VARIANT_CACHE_BYTES // max(per, 1))
        dev, out = self.model.device, []
        for at in range(0, len(variants), chunk):
            part = variants[at: at + chunk]
            n = len(part)
            cache = KVCache(len(self.cache.k))
            cache.k = [k.expand(n, -1, -1, -1).clone() for k in self.cache.k]  # (n, Hkv, T, Dh)
            cache.v = [v.expand(n, -1, -1, -1).clone() for v in self.cache.v]
            row_t = torch.tensor(rows, dtype=torch.long, device=dev).expand(n, -1).contiguous()  # (n, N)
            ids = torch.tensor([[ids[r] for r in rows] for ids in part], dtype=torch.long, device=dev)  # (n, N)
            hidden = self.model.hidden(ids, positions=row_t, key_mask=self.key_mask.expand(n, -1), cache=cache,
                                       rows=row_t, final_norm=normed)  # (n, N, C)
            for b, pos in enumerate(positions[at: at + n]):
                out.append(hidden[b, self._rows_tensor([index[r] for r in self._src_rows(pos)], dev)])  # (M_v, C)
            self.row_forwards += 1
        return out
