"""Engine: the resident model behind a small API: submit(job) -> JobHandle, cancel(handle), stats().

One worker thread owns the model. Jobs wait in a queue; the worker takes every waiting job (up to
max_batch) and denoises them jointly, one forward per step for the whole batch (runtime/batch.py).
Jobs that arrive while a batch runs join it at the next step, and each job is answered as soon as
its own canvas is done, not when the batch drains. A newer job with the same key cancels the older
one (latest wins); cancellation is checked between denoising steps, so it lands within one step.
The engine knows nothing about editors: keys are opaque strings.
"""
from __future__ import annotations

import concurrent.futures as cf
import itertools
import threading
import time
from collections import deque
from pathlib import Path

import torch

from collections import OrderedDict

from runtime.batch import BatchRun
from runtime.infill import RunOptions
from runtime.jobs import CancelToken, InfillJob, InfillResult
from runtime.stats import EngineStats


class JobHandle:
    """A submitted job: .future resolves to its InfillResult; .cancel() stops it between steps."""

    def __init__(self, job: InfillJob, job_id: int) -> None:
        self.job, self.id = job, job_id
        self.token = CancelToken(job.deadline_s)
        self.future: cf.Future = cf.Future()
        self.submitted = time.perf_counter()

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
        self._worker.start()

    @classmethod
    def load(cls, path: str | Path | None = None, device: str = "auto", dtype: torch.dtype | None = None, **options):
        """Load a checkpoint directory (None = the embedded model) and start the worker."""
        from runtime.embedded import embedded_model_dir
        from runtime.loader import load_model

        model = load_model(path if path is not None else embedded_model_dir(), device=device, dtype=dtype)
        max_batch = options.pop("max_batch", 8)
        if "max_context" in model.spec.defaults:  # a model trained on short windows says so in its config
            options.setdefault("max_context", int(model.spec.defaults["max_context"]))
        return cls(model, model.tokenizer, RunOptions(**options), max_batch=max_batch)

    # --- public API -------------------------------------------------------------------------
    def submit(self, job: InfillJob) -> JobHandle:
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
                    queued=len(self._queue), cached=self.options.cached)
        return info

    def close(self) -> None:
        with self._cond:
            self._closed = True
            for h in list(self._queue) + self._running:
                h.cancel()
            self._cond.notify_all()
        self._worker.join(timeout=5)

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
            live = [h for h in batch if not self._finish_if_stopped(h)]
            if live:
                self._run(live)
            with self._cond:
                self._running = []

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
                    slots[run.add(h.job, h.token, carried if len(batch) == 1 else None)] = h
                self._answer(run, slots)
                while run.live:
                    run.step()
                    self._answer(run, slots)
                    if run.live:  # a drained batch ends: the next job starts afresh, with its document's cache
                        self._join(run, slots)
        except Exception as exc:  # a bad job must not kill the worker; each caller gets the error
            for h in slots.values() if slots else batch:
                if not h.future.done():
                    self._stats.errors += 1
                    h.future.set_exception(exc)
            return
        carry = run.carry()
        if key is not None and carry is not None and self.options.reuse:
            self._carried[key] = carry
            while len(self._carried) > self.max_carried:
                self._carried.popitem(last=False)

    def _answer(self, run: BatchRun, slots: dict) -> None:
        for slot, result in run.done():
            self._resolve(slots[slot], result)

    def _join(self, run: BatchRun, slots: dict) -> None:
        """Add jobs queued since the batch started (a full forward next step is their prefill)."""
        if not self._queue or run.live_count >= self.max_batch:
            return
        with self._cond:
            newcomers = self._take_waiting(self.max_batch - run.live_count)
            self._running.extend(newcomers)
        for h in newcomers:
            if not self._finish_if_stopped(h):
                slots[run.add(h.job, h.token)] = h
                self._stats.joined += 1  # a job that joined a running batch

    def _resolve(self, h: JobHandle, result: InfillResult) -> None:
        latency = (time.perf_counter() - h.submitted) * 1e3
        result.timings["latency"] = latency
        self._stats.record(result, latency)
        if not h.future.done():
            h.future.set_result(result)
