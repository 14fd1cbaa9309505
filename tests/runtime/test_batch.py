"""The live batch (runtime/batch.py) and the engine around it: each job is answered as soon as its
own canvas is done; a job arriving while a batch runs joins it at the next step and comes out as it
would alone."""
from __future__ import annotations

import threading

import pytest

import runtime.batch as batch_mod
from runtime import Engine, InfillJob
from runtime.batch import BatchRun, run_batch
from runtime.infill import RunOptions
from runtime.jobs import CancelToken
from runtime.loader import load_model

SHORT = InfillJob(prefix="x = ", suffix="\n", mode="line", max_tokens=2, strategy="one")
LONG = InfillJob(segments=["def f(a):\n    ", "\n    ", "\n    ", "\n"], mode="block", max_tokens=8, strategy="one",
                 gap_tokens=8)


@pytest.fixture(scope="module")
def model(tiny_model_dir):
    return load_model(tiny_model_dir)


def test_a_short_job_is_answered_before_the_batch_drains(model):
    run = BatchRun(model, model.tokenizer, RunOptions())
    short, long_ = run.add(SHORT, CancelToken()), run.add(LONG, CancelToken())
    answered: dict[int, int] = {}
    steps = 0
    while run.live:
        run.step()
        steps += 1
        for slot, result in run.done():
            answered[slot] = steps
            assert result.stop_reason in ("eos", "pad", "eol", "budget")
    assert answered[short] <= 2 < answered[long_], "the short job left the batch as soon as it was done"


@pytest.mark.parametrize("cached", [True, False])
def test_a_job_joining_mid_batch_comes_out_as_alone(model, cached):
    opts = RunOptions(cached=cached)
    alone = run_batch(model, model.tokenizer, [SHORT], [CancelToken()], opts)[0]
    run = BatchRun(model, model.tokenizer, opts)
    run.add(LONG, CancelToken())
    run.step()
    run.step()
    joined = run.add(SHORT, CancelToken())
    results = {}
    while run.live:
        run.step()
        results.update(run.done())
    assert (results[joined].text, results[joined].steps, results[joined].tokens) == (alone.text, alone.steps, alone.tokens)
    assert run.carry() is None, "a batch of two jobs carries no document cache"


def test_engine_lets_a_newcomer_join_the_running_batch(tiny_model_dir, monkeypatch):
    started, release = threading.Event(), threading.Event()
    real_step = batch_mod.step

    def first_step_waits(*args, **kw):  # hold the first job inside its first step until B is queued
        if not started.is_set():
            started.set()
            release.wait(10)
        return real_step(*args, **kw)

    monkeypatch.setattr(batch_mod, "step", first_step_waits)
    engine = Engine.load(tiny_model_dir, device="cpu")
    try:
        a = engine.submit(LONG)
        assert started.wait(10)
        b = engine.submit(SHORT)
        release.set()
        rb, ra = b.result(30), a.result(30)
        assert rb.text and ra.stop_reason in ("eos", "pad", "budget")
        assert engine.stats()["joined"] == 1
    finally:
        release.set()
        engine.close()


def test_answered_canvases_leave_the_batch_when_a_job_joins(model):
    run = BatchRun(model, model.tokenizer, RunOptions())
    short, long_ = run.add(SHORT, CancelToken()), run.add(LONG, CancelToken())
    while short not in run.resolved:
        run.step()
        run.done()
    assert run.size == 2 and run.live_count == 1
    third = run.add(SHORT, CancelToken())
    assert run.size == 2 and run.slots == [long_, third], "the answered canvas made room; slots stay stable"


def test_a_superseding_keystroke_starts_afresh_with_the_document_cache(tiny_model_dir, monkeypatch):
    started, release = threading.Event(), threading.Event()
    real_step = batch_mod.step

    def first_step_then_wait(*args, **kw):  # the first job's prefill runs, then it waits for the keystroke
        out = real_step(*args, **kw)
        if not started.is_set():
            started.set()
            release.wait(10)
        return out

    monkeypatch.setattr(batch_mod, "step", first_step_then_wait)
    engine = Engine.load(tiny_model_dir, device="cpu")
    try:
        body = "".join(f"def f{i}(x):\n    return x + {i}\n\n" for i in range(12))
        a = engine.submit(InfillJob(prefix=body + "y = f1(", suffix=")\n", key="doc", max_tokens=6))
        assert started.wait(10)
        b = engine.submit(InfillJob(prefix=body + "y = f1(2", suffix=")\n", key="doc", max_tokens=6))
        release.set()
        assert a.result(30).stop_reason == "cancelled"
        rb = b.result(30)
        assert rb.timings["reused"] == 1.0, "not joined: a fresh batch with the document's carried cache"
        assert engine.stats()["joined"] == 0
    finally:
        release.set()
        engine.close()
