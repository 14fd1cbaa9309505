"""Engine: the resident model behind a small API: submit(job) -> JobHandle, cancel(handle), stats().

One worker thread owns the model. Jobs wait in a queue; the worker takes every waiting job (up to
max_batch) and denoises them jointly, one forward per step for the whole batch (runtime/batch.py).
Jobs that arrive while a batch runs join it at the next step, and each job is answered as soon as
its own canvas is done, not when the batch drains. A newer job with the same key cancels the older
one (latest wins); cancellation is checked between denoising steps, so it lands within one step.
The engine knows nothing about editors: keys are opaque strings.

Faults stay with their job. submit() checks a job (check_job) before it is queued and answers a bad
one at once; a job whose canvas still fails to build is answered with that error alone; an error in
a denoising step answers every job of that batch with it. The worker survives all three and serves
the next job, and no caller is ever left waiting.

Exit. The worker is a daemon thread, and a daemon thread still inside torch when the interpreter
finalizes aborts the process ("terminate called without an active exception", code 134: measured 6
of 6 on a script that ends while a job runs). So every engine not yet closed is closed at exit by an
atexit hook registered when the first engine starts (after torch's own hooks, so it runs before
them); it holds engines weakly. close() cancels what is queued or running and joins the worker,
which stops at the next step boundary. A script may call close() or not.
"""
from __future__ import annotations

import atexit
import concurrent.futures as cf
import itertools
import threading
import time
import weakref
from collections import deque
from pathlib import Path

import logging
from collections import OrderedDict

import torch

from runtime.batch import BatchRun
from runtime.decoding import strategy_for
from runtime.decoding.base import int_param
from runtime.infill import LOOP_PARAMS, RunOptions, text_budget
from runtime.jobs import CancelToken, InfillJob, InfillResult
from runtime.stats import EngineStats

log = logging.getLogger("seed_lsp.engine")

# The loop's own params (runtime/infill.py LOOP_PARAMS): what each must be. The rest go to the strategy.
LOOP_CHECKS = {
    "gap": ("an int >= 1", lambda v: int_param("loop", "gap", v) >= 1),
    "grow": ("an int >= 1", lambda v: int_param("loop", "grow", v) >= 1),
    "allow_empty": ("a bool", lambda v: isinstance(v, bool)),
}


def check_job(job: InfillJob, defaults: dict | None = None) -> None:
    """ValueError naming the field or param unless `job` can run on a model whose config defaults
    are `defaults`: its fields' types (InfillJob.check), its strategy's name and params (the
    strategy's constructor checks them), the loop's params (LOOP_CHECKS)."""
    if not isinstance(job, InfillJob):
        raise ValueError(f"a job must be an InfillJob, got {type(job).__name__}")
    job.check()
    for name in LOOP_PARAMS:
        if name in job.params and not LOOP_CHECKS[name][1](job.params[name]):
            raise ValueError(f"loop param {name!r} must be {LOOP_CHECKS[name][0]}, got {job.params[name]!r}")
    strategy_for(job.strategy, {k: v for k, v in job.params.items() if k not in LOOP_PARAMS}, defaults)


EXIT_JOIN_S = 30.0  # how long exit waits for a worker to reach a step boundary (a long CPU step)
_open_engines: "weakref.WeakSet[Engine]" = weakref.WeakSet()
_exit_hook = threading.Lock()
_exit_hook_registered = False


def _close_open_engines() -> None:
    """atexit: stop and join every engine's worker while torch is still whole."""
    for engine in list(_open_engines):
        try:
            engine.close(timeout=EXIT_JOIN_S)
        except Exception:  # exit must go on; the next engine still gets closed
            log.exception("closing an engine at exit failed")


def _watch_for_exit(engine: "Engine") -> None:
    global _exit_hook_registered
    with _exit_hook:
        if not _exit_hook_registered:
            atexit.register(_close_open_engines)
            _exit_hook_registered = True
        _open_engines.add(engine)


class JobHandle:
    """A submitted job: .future resolves to its InfillResult; .cancel() stops it between steps.
    A job refused at submit gets a handle whose future already holds the error."""

    def __init__(self, job: InfillJob, job_id: int, error: Exception | None = None) -> None:
        self.job, self.id = job, job_id
        self.token = CancelToken(job.deadline_s if error is None else None)
        self.future: cf.Future = cf.Future()
        self.submitted = time.perf_counter()
        if error is not None:
            self.future.set_exception(error)

    def cancel(self, reason: str = "cancelled") -> None:
        self.token.cancel(reason)

    def result(self, timeout: float | None = None) -> InfillResult:
        return self.future.result(timeout)

    def done(self) -> bool:
        return self.future.done()


class Engine:
    def __init__(self, model, tokenizer, options: RunOptions | None = None, max_batch: int = 8) -> None:
        self.model, self.tokenizer = model, tokenizer
        self.options = options or RunOptions()
        if self.options.max_context is None:  # the model's own: a short-window model says so in its config
            own = model.spec.defaults.get("max_context")
            self.options.max_context = min(int(own), model.spec.window) if own else model.spec.window
        self.max_batch = max_batch
        self._queue: deque[JobHandle] = deque()
        self._running: list[JobHandle] = []
        self._cond = threading.Condition()
        self._ids = itertools.count(1)
        self._closed = False
        self._stats = EngineStats()
        self._carried: OrderedDict[str, object] = OrderedDict()  # key -> last cache (LRU, reuse across keystrokes)
        self.max_carried = 8
        self._worker = threading.Thread(target=self._loop, name="seed-lsp-engine", daemon=True)
        _watch_for_exit(self)
        self._worker.start()

    @classmethod
    def load(cls, path: str | Path | None = None, device: str = "auto", dtype: torch.dtype | None = None, **options):
        """Load a checkpoint directory (None = the embedded model) and start the worker."""
        from runtime.embedded import embedded_model_dir
        from runtime.loader import load_model

        model = load_model(path if path is not None else embedded_model_dir(), device=device, dtype=dtype)
        max_batch = options.pop("max_batch", 8)
        return cls(model, model.tokenizer, RunOptions(**options), max_batch=max_batch)

    @property
    def window(self) -> int:
        """Positions a canvas may take: the checkpoint's length, capped by its family's training length."""
        return self.model.spec.window

    def context_tokens(self, max_tokens: int) -> int:
        """Tokens of text (preamble included) a one-gap job with this budget keeps: what a client
        should send at most (more is cut by the runtime, on line boundaries)."""
        spec = self.model.spec
        return text_budget(spec.window, len(spec.prompt_head) + len(spec.prompt_tail), self.options.max_context, max_tokens)

    # --- public API -------------------------------------------------------------------------
    def submit(self, job: InfillJob) -> JobHandle:
        """Queue a job and return at once. A job that check_job refuses (ill-typed fields, unknown
        strategy, bad strategy or loop params) never enters the queue: its handle's future already
        holds the ValueError, so h.result() raises it immediately, the same single error path a
        daemon's RemoteEngine gives. RuntimeError (raised here) only once the engine is closed."""
        try:
            self.validate(job)
        except Exception as exc:  # whatever a check trips on, the job is refused, as a ValueError
            error = exc if isinstance(exc, ValueError) else ValueError(f"invalid job: {type(exc).__name__}: {exc}")
            with self._cond:
                self._stats.errors += 1
            return JobHandle(job if isinstance(job, InfillJob) else InfillJob(), next(self._ids), error)
        handle = JobHandle(job, next(self._ids))
        with self._cond:
            if self._closed:
                raise RuntimeError("engine is closed")
            if job.key is not None:
                for old in itertools.chain(self._queue, self._running):
                    if old.job.key == job.key and old.token.stopped() is None:
                        old.cancel("cancelled")  # latest wins
                        self._stats.superseded += 1
            self._queue.append(handle)
            self._cond.notify()
        return handle

    def validate(self, job: InfillJob) -> None:
        """ValueError naming what is wrong unless this engine's model can run `job` (check_job);
        what submit runs first, for callers (the daemon) that answer bad requests before queueing."""
        check_job(job, self.model.spec.defaults)
        # Budgets past the model's positions would fail at build_canvas, but only after allocating
        # that many masks: a max_tokens of 10**9 must not cost gigabytes first.
        limit = self.model.arch.max_positions
        sizes = job.gap_tokens if isinstance(job.gap_tokens, list) else [job.gap_tokens]
        if max(job.max_tokens, *(n or 0 for n in sizes)) > limit:
            raise ValueError(f"max_tokens and gap_tokens must be <= the model's {limit} positions")

    def cancel(self, handle: JobHandle) -> None:
        handle.cancel()

    def infill(self, prefix: str, suffix: str = "", mode: str = "line", max_tokens: int = 64,
               strategy: str = "auto", timeout: float | None = None, **params) -> InfillResult:
        """Blocking convenience: submit one job and wait for its result."""
        job = InfillJob(prefix=prefix, suffix=suffix, mode=mode, max_tokens=max_tokens, strategy=strategy, params=params)
        return self.submit(job).result(timeout)

    def warm_up(self, timeout: float = 60.0) -> float:
        """Run one tiny job so that the first user request does not pay for first-call costs
        (allocator growth, lazy initialisation, Triton compiling its kernels on a GPU); returns ms."""
        start = time.perf_counter()
        self.infill("x = ", "\n", mode="line", max_tokens=2, timeout=timeout)
        self._stats = EngineStats()  # counters and latencies start with the first real job
        return (time.perf_counter() - start) * 1e3

    def stats(self) -> dict:
        info = self._stats.snapshot()
        info.update(model=str(getattr(self.model, "path", "")), family=self.model.spec.family,
                    device=str(self.model.device), dtype=str(self.model.dtype).replace("torch.", ""),
                    queued=len(self._queue), cached=self.options.cached, window=self.window,
                    max_context=self.options.max_context, special_id_conflicts=list(self.model.spec.conflicts))
        return info

    def close(self, timeout: float | None = EXIT_JOIN_S) -> None:
        """Cancel queued and running jobs (each is answered "cancelled" at the next step boundary)
        and join the worker, up to `timeout` s. Idempotent; run at exit for an engine never closed."""
        with self._cond:
            self._closed = True
            for h in list(self._queue) + self._running:
                h.cancel()
            self._cond.notify_all()
        if self._worker is not threading.current_thread():
            self._worker.join(timeout)
            if self._worker.is_alive():
                log.warning("engine worker still inside a step after %s s; not joined", timeout)
                return
        _open_engines.discard(self)

    # --- worker -------------------------------------------------------------------------------
    def _take_batch(self) -> list[JobHandle]:
        with self._cond:
            while not self._queue and not self._closed:
                self._cond.wait()
            batch = self._take_waiting(self.max_batch)
            self._running = batch
            return batch

    def _take_waiting(self, limit: int) -> list[JobHandle]:
        """Pop up to `limit` queued jobs (the caller holds the lock)."""
        out = []
        while self._queue and len(out) < limit:
            out.append(self._queue.popleft())
        return out

    def _loop(self) -> None:
        while True:
            batch = self._take_batch()
            if not batch:
                return  # closed and drained
            try:
                live = [h for h in batch if not self._finish_if_stopped(h)]
                if live:
                    self._run(live)
            except Exception as exc:  # a fault outside a step (a new batch, a carried cache): the worker lives on
                log.exception("engine batch failed")
                self._fail_running(exc)
            with self._cond:
                running, self._running = self._running, []
            # Never leave a caller waiting, whatever path the batch took: each job is answered.
            self._fail_running(RuntimeError("the engine ended the batch without answering this job"), running)

    def _finish_if_stopped(self, h: JobHandle) -> bool:
        reason = h.token.stopped()
        if reason is None:
            return False
        self._resolve(h, InfillResult.empty(len(h.job.texts) - 1, reason))
        return True

    def _run(self, batch: list[JobHandle]) -> None:
        """Denoise a batch until it drains; newcomers join between steps while there is room."""
        key = batch[0].job.key if len(batch) == 1 else None
        carried = self._carried.pop(key, None) if key is not None and self.options.reuse else None
        run = BatchRun(self.model, self.tokenizer, self.options)
        slots: dict[int, JobHandle] = {}
        try:
            with torch.inference_mode():
                for h in batch:
                    self._add(run, slots, h, carried if len(batch) == 1 else None)
                self._answer(run, slots)
                while run.live:
                    run.step()
                    self._answer(run, slots)
                    if run.live:  # a drained batch ends: the next job starts afresh, with its document's cache
                        self._join(run, slots)
        except Exception as exc:  # a step failed: every job of this batch gets the error, none waits
            log.exception("denoising step failed")
            self._fail_running(exc)
            return
        if len(slots) != run.added:
            return  # a job failed inside add after taking a slot: its cache is not worth carrying
        carry = run.carry()
        if key is not None and carry is not None and self.options.reuse:
            self._carried[key] = carry
            while len(self._carried) > self.max_carried:
                self._carried.popitem(last=False)

    def _answer(self, run: BatchRun, slots: dict) -> None:
        for slot, result in run.done():
            self._resolve(slots[slot], result)

    def _add(self, run: BatchRun, slots: dict, h: JobHandle, carried=None) -> bool:
        """Add one job to the batch; an error building its canvas answers that job alone (False)."""
        taken = run.added
        try:
            slots[run.add(h.job, h.token, carried)] = h
            return True
        except Exception as exc:
            if run.added != taken:  # it failed after taking a slot: its canvas stays, as a row of nothing
                run.resolved.add(taken)
                if taken in run.slots:
                    run.canvases[run.slots.index(taken)].stop_reason = "error"
            self._fail(h, exc)
            return False

    def _join(self, run: BatchRun, slots: dict) -> None:
        """Add jobs queued since the batch started (a full forward next step is their prefill)."""
        if not self._queue or run.live_count >= self.max_batch:
            return
        with self._cond:
            newcomers = self._take_waiting(self.max_batch - run.live_count)
            self._running.extend(newcomers)
        for h in newcomers:
            if not self._finish_if_stopped(h) and self._add(run, slots, h):
                self._stats.joined += 1  # a job that joined a running batch

    def _fail(self, h: JobHandle, exc: BaseException) -> None:
        if not h.future.done():
            self._stats.errors += 1
            h.future.set_exception(exc)

    def _fail_running(self, exc: BaseException, handles: list[JobHandle] | None = None) -> None:
        """Answer with `exc` every job taken from the queue for this batch (default) that has no answer."""
        if handles is None:
            with self._cond:
                handles = list(self._running)
        for h in handles:
            self._fail(h, exc)

    def _resolve(self, h: JobHandle, result: InfillResult) -> None:
        latency = (time.perf_counter() - h.submitted) * 1e3
        result.timings["latency"] = latency
        self._stats.record(result, latency)
        if not h.future.done():
            h.future.set_result(result)
