"""A live denoising batch: jobs join between steps and leave as soon as their canvas is done.

BatchRun(model, tokenizer, opts)
  add(job, cancel, carried=None) -> slot   build the job's canvas; the first job of a batch on the
                                           cached path starts from its document's carried cache and
                                           last fill (runtime/reuse.py, runtime/draft.py)
  step()                                   one denoising step over every live canvas
  done() -> [(slot, InfillResult)]         jobs finished, stopped or cancelled since the last call
  carry() -> Carried | None                cache and fill of a batch that only ever held one job
  live, live_count, size                   any / how many jobs unanswered; canvases in the batch
A joining canvas changes the batch layout, so the runner's next forward is a full one: the
newcomer's prefill, and a refresh for the others. Finished canvases stay in the batch, as rows of
nothing, until the next job joins: taking one out would change the layout and cost the rest a full
forward, which a join costs anyway (so answered canvases leave the batch then).
"""
from __future__ import annotations

import time

from runtime import draft as drafts
from runtime.decoding import strategy_for
from runtime.infill import LOOP_PARAMS, RunOptions, build_canvas, decode_result, heal_indent, step
from runtime.jobs import CancelToken, InfillJob, InfillResult
from runtime.reuse import Carried, transplant
from runtime.runner import Runner


class BatchRun:
    def __init__(self, model, tokenizer, opts: RunOptions) -> None:
        self.model, self.tokenizer, self.opts = model, tokenizer, opts
        self.runner = Runner(model, cached=opts.cached, refresh_every=opts.refresh_every, vicinity=opts.vicinity,
                             head_all=opts.head_all and not opts.cached)
        spec = model.spec
        self.end_names = {i: "pad" for i in spec.extra_end_ids} | {spec.pad_id: "pad", spec.eos_id: "eos"}
        if spec.eot_id is not None:
            self.end_names[spec.eot_id] = "eos"
        # Parallel lists over the canvases in the runner's batch; slots[i] is the caller's id of entry i.
        self.slots: list[int] = []
        self.jobs: list[InfillJob] = []
        self.canvases = []
        self.strategies = []
        self.info: list[dict] = []  # per entry: times and reuse figures
        self.resolved: set[int] = set()  # slots answered
        self.results: dict[int, InfillResult] = {}
        self.added = 0

    @property
    def size(self) -> int:
        return len(self.canvases)

    @property
    def live(self) -> bool:
        return self.live_count > 0

    @property
    def live_count(self) -> int:
        return sum(slot not in self.resolved for slot in self.slots)

    def add(self, job: InfillJob, cancel: CancelToken, carried: Carried | None = None) -> int:
        t0 = time.perf_counter()
        strat = strategy_for(job.strategy, {k: v for k, v in job.params.items() if k not in LOOP_PARAMS},
                             self.model.spec.defaults)  # "auto": the model's own choice
        first = self.added == 0 and self.opts.cached
        draft = self._draft(job, strat, carried) if first and self.opts.draft else None
        canvas = build_canvas(job, self.model, self.tokenizer, self.opts, cancel)  # a cold job's layout, draft or not
        info = {"t0": t0, "t1": time.perf_counter(), "first": None, "reused": 0.0, "drafted": 0.0, "kept": 0.0}
        self._compact()
        slot, self.added = self.added, self.added + 1
        for lst, item in ((self.slots, slot), (self.jobs, job), (self.canvases, canvas), (self.strategies, strat),
                          (self.info, info)):
            lst.append(item)
        if first and carried is not None:
            # Older than reuse_max_age jobs: a full forward instead (the cold prefill), reset to age 0.
            seeded = transplant(carried, canvas.ids, self.model, window=self.opts.reuse_window,
                                max_age=self.opts.reuse_max_age)
            if seeded is not None:
                self.runner.start_from(canvas, *seeded, age=carried.age + 1)
                info["reused"] = 1.0
        if draft:
            info["kept"] = float(drafts.check(canvas, draft, self.runner, strat, self.model.spec.mask_id))
            info["drafted"], info["first"] = float(len(draft)), time.perf_counter()  # the check's forward was the prefill
        return slot

    def _compact(self) -> None:
        """Drop answered canvases before a join: the join's full forward should not carry them."""
        keep = [i for i, slot in enumerate(self.slots) if slot not in self.resolved]
        if len(keep) == len(self.slots):
            return
        for name in ("slots", "jobs", "canvases", "strategies", "info"):
            setattr(self, name, [getattr(self, name)[i] for i in keep])

    def _draft(self, job: InfillJob, strat, carried: Carried | None) -> list[int] | None:
        if carried is None or strat.temperature > 0:
            return None
        text = drafts.aim(carried.last, job)
        if text is None:
            return None
        indent = heal_indent(job.texts)[1]
        ids = drafts.draft_ids(text, indent, carried.last.end_token, self.model.spec.end_ids, self.tokenizer, job.max_tokens)
        return ids or None

    def _running(self, i: int) -> bool:
        c = self.canvases[i]
        return self.slots[i] not in self.resolved and c.stop_reason is None and not c.finished()

    def step(self) -> None:
        if any(self._running(i) for i in range(self.size)):
            step(self.canvases, self.strategies, self.runner, self.model.spec.mask_id)
            now = time.perf_counter()
            for info in self.info:
                info["first"] = info["first"] or now

    def done(self) -> list[tuple[int, InfillResult]]:
        out = []
        for i, c in enumerate(self.canvases):
            slot = self.slots[i]
            if slot in self.resolved:
                continue
            reason = c.stop_reason or c.cancel.stopped()
            if reason and c.stop_reason is None:
                c.stop_reason = reason
            if c.stop_reason is None and not c.finished():
                continue
            self.resolved.add(slot)
            self.results[slot] = self._result(i)
            out.append((slot, self.results[slot]))
        return out

    def _result(self, i: int) -> InfillResult:
        info, now = self.info[i], time.perf_counter()
        first = info["first"] or now
        timings = {"tokenize": (info["t1"] - info["t0"]) * 1e3, "prefill": (first - info["t1"]) * 1e3,
                   "steps": (now - first) * 1e3}
        result = decode_result(self.canvases[i], self.jobs[i], self.tokenizer, self.end_names, timings)
        result.timings["postprocess"] = (time.perf_counter() - now) * 1e3
        result.timings["total"] = (time.perf_counter() - info["t0"]) * 1e3
        result.timings.update(reused=info["reused"], drafted=info["drafted"], draft_kept=info["kept"])
        return result

    def carry(self) -> Carried | None:
        if self.added != 1 or self.runner.cache is None or 0 not in self.resolved:
            return None
        job, canvas = self.jobs[0], self.canvases[0]
        fill = self.results[0].text
        last = drafts.LastFill(job.texts, job.mode, fill, canvas.gaps[0].end_token) if len(job.texts) == 2 else None
        return Carried(canvas.ids, self.runner.cache, last, age=self.runner.age)

def run_batch(model, tokenizer, jobs: list[InfillJob], cancels: list[CancelToken], opts: RunOptions) -> list[InfillResult]:
    """Denoise jobs jointly (one forward per step for the whole batch); one result per job."""
    return run_carrying(model, tokenizer, jobs, cancels, opts)[0]


def run_carrying(model, tokenizer, jobs, cancels, opts: RunOptions, carried: Carried | None = None):
    """run_batch that also starts from and returns a document's carried cache (a one-job batch)."""
    run = BatchRun(model, tokenizer, opts)
    for job, cancel in zip(jobs, cancels):
        run.add(job, cancel, carried if len(jobs) == 1 else None)
    results: dict[int, InfillResult] = dict(run.done())
    while run.live:
        run.step()
        results.update(run.done())
    return [results[i] for i in range(len(jobs))], run.carry()
