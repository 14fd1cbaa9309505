"""The eval loop: completions come one at a time, tests run in parallel.

A completion source maps a Task to a Completion: `oracle` (the canonical middle), `empty` ("") or
`EngineSource` (the model, through runtime.Engine.infill). Model calls stay sequential on the
calling thread (the engine owns the CPU/GPU); each completion is handed to a small thread pool
whose workers each wait on one sandboxed test process. Records are streamed to the JSONL file as
they finish (a long run that dies keeps what it scored) and returned in task order.
"""
from __future__ import annotations

import json
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

from runtime.eval.score import Completion, Record, score
from runtime.eval.tasks import Task

Source = Callable[[Task], Completion]


def oracle(task: Task) -> Completion:
    return Completion(task.middle)


def empty(task: Task) -> Completion:
    return Completion("")


class EngineSource:
    """Completions from the model: mode "line" for single-line tasks, "block" otherwise.
    max_tokens: gap budget per mode; params: strategy parameters (e.g. threshold); cached=False runs
    the exact path (a full forward per step; with strategy "one" that is the reference loop)."""

    def __init__(self, model: str | None, strategy: str, params: dict[str, Any],
                 max_tokens: dict[str, int], cached: bool = True) -> None:
        from runtime import Engine
        from runtime.decoding import make_strategy, resolve

        from runtime.infill import LOOP_PARAMS

        # fail on a bad name or parameter before loading a model (gap, grow, ... are the loop's)
        make_strategy(strategy, **{k: v for k, v in params.items() if k not in LOOP_PARAMS})
        self.engine = Engine.load(path=model, cached=cached)
        strategy = resolve(strategy, self.engine.model.spec.defaults)  # "auto": what the model declares
        try:
            make_strategy(strategy, **{k: v for k, v in params.items() if k not in LOOP_PARAMS})
        except ValueError:
            self.engine.close()
            raise
        self.strategy, self.params, self.max_tokens = strategy, params, max_tokens
        stats = self.engine.stats()
        self.model_name = str(stats.get("model") or model or "embedded")
        self.device, self.dtype = str(stats.get("device")), str(stats.get("dtype"))  # fp32 on CPU by default

    def __call__(self, task: Task) -> Completion:
        mode = "line" if task.split == "single-line" else "block"
        start = time.perf_counter()
        res = self.engine.infill(task.prefix, task.suffix, mode=mode, max_tokens=self.max_tokens[mode],
                                 strategy=self.strategy, **self.params)
        ms = (time.perf_counter() - start) * 1000
        return Completion(res.text, res.tokens, res.steps, ms, res.stop_reason, float(res.confidence))

    def close(self) -> None:
        self.engine.close()


def run_eval(tasks: list[Task], source: Source, *, workers: int = 2, timeout_s: float = 5.0,
             memory_mb: int = 1024, jsonl: str | Path | None = None, progress: bool = True) -> list[Record]:
    """Score every task; returns records in task order. The progress bar shows the running pass@1
    and exact match over the tasks scored so far."""
    from tqdm import tqdm

    lock = threading.Lock()
    done: list[Record] = []
    bar = tqdm(total=len(tasks), desc="eval", unit="task", disable=not progress, dynamic_ncols=True)
    out = open(jsonl, "w", encoding="utf-8") if jsonl else None

    def finished(fut: Future) -> None:
        if fut.exception() is not None:
            return  # re-raised in the main thread by fut.result() below
        rec = fut.result()
        with lock:
            done.append(rec)
            if out:
                out.write(json.dumps(rec.to_json()) + "\n")
                out.flush()
            n = len(done)
            bar.set_postfix({"pass@1": f"{100 * sum(r.passed for r in done) / n:.1f}%",
                             "exact": f"{100 * sum(r.exact for r in done) / n:.1f}%"}, refresh=False)
            bar.update(1)

    pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="eval-test")
    try:
        futures = []
        for task in tasks:
            fut = pool.submit(score, task, source(task), timeout_s, memory_mb)
            fut.add_done_callback(finished)
            futures.append(fut)
        records = [f.result() for f in futures]
    finally:
        # on Ctrl-C or an engine error, drop the queued tests; running ones end by their timeout
        pool.shutdown(wait=True, cancel_futures=True)
        bar.close()
        if out:
            out.close()
    return records
