"""Engine faults stay with their job: a bad job is answered at once and alone, an error while a job
joins a batch answers that job only, an error in a denoising step answers every job of that batch,
and the worker serves the next job after each (runtime/engine.py)."""
from __future__ import annotations

import time

import pytest

from runtime import Engine, InfillJob
from runtime.batch import BatchRun
from runtime.engine import LOOP_CHECKS
from runtime.infill import LOOP_PARAMS

NORMAL = ("eos", "pad", "eol", "budget")


@pytest.fixture()
def engine(tiny_model_dir):
    # The exact path (a full forward each step): a job's result is the same alone or in a batch,
    # so "normal results" below can be checked against solo runs.
    e = Engine.load(tiny_model_dir, device="cpu", cached=False)
    yield e
    e.close()


def _running_job() -> InfillJob:
    # One token per step into a 48-token gap: dozens of steps, so later jobs surely join it.
    return InfillJob(prefix="x = ", suffix="", mode="block", max_tokens=48, strategy="one", params={"gap": 48})


def _good_job() -> InfillJob:
    return InfillJob(prefix="def f(x):\n    return ", suffix="\n", mode="line", max_tokens=6, strategy="threshold",
                     params={"tau": 0.9})


def _bad_job() -> InfillJob:
    return InfillJob(prefix="y = ", suffix="\n", max_tokens=6, strategy="threshold", params={"tau": "oops"})


def _started(engine: Engine, job: InfillJob):
    h = engine.submit(job)
    deadline = time.monotonic() + 60
    while h.token.steps < 2:  # the batch is running: what comes next queues behind it, then joins
        assert time.monotonic() < deadline and not h.done(), "the running job never started"
        time.sleep(0.002)
    return h


def _same(a, b) -> None:
    assert (a.text, a.tokens, a.steps, a.stop_reason) == (b.text, b.tokens, b.steps, b.stop_reason)


def test_measured_scenario_bad_job_between_running_and_good(engine):
    """The measured bug: tau="oops" behind a running job, beside a good one, failed both with a
    TypeError and was itself never answered."""
    alone_running, alone_good = engine.submit(_running_job()).result(60), engine.submit(_good_job()).result(60)
    running = _started(engine, _running_job())
    t0 = time.monotonic()
    bad = engine.submit(_bad_job())
    good = engine.submit(_good_job())
    with pytest.raises(ValueError, match="tau"):
        bad.result(timeout=1)  # already answered: submit refused it
    assert time.monotonic() - t0 < 1
    assert not running.done(), "the bad job was answered before the running batch moved on"
    _same(good.result(60), alone_good)
    _same(running.result(60), alone_running)
    assert running.result().stop_reason in NORMAL and good.result().stop_reason in NORMAL


def test_error_while_joining_a_batch_answers_that_job_only(engine, monkeypatch):
    """The same scenario with submit's checks bypassed: the job fails inside BatchRun.add, as a
    check the validator lacks would; it alone gets the error, before the running job ends."""
    alone_running, alone_good = engine.submit(_running_job()).result(60), engine.submit(_good_job()).result(60)
    monkeypatch.setattr(engine, "validate", lambda job: None)
    running = _started(engine, _running_job())
    bad = engine.submit(_bad_job())
    good = engine.submit(_good_job())
    with pytest.raises(ValueError, match="tau"):
        bad.result(timeout=30)
    assert not running.done(), "the bad job waited for the batch to drain"
    _same(good.result(60), alone_good)
    _same(running.result(60), alone_running)


def test_job_too_long_for_the_model_fails_alone(engine):
    """A job that passes submit's checks but cannot be laid out (more positions than the model's)
    fails in BatchRun.add; the job taken in the same batch is served normally."""
    n = engine.model.arch.max_positions
    huge = InfillJob(segments=["a = ", "\nb = ", "\nc = ", "\n"], mode="block", max_tokens=n // 2)
    handles = [engine.submit(huge), engine.submit(_good_job())]
    with pytest.raises(ValueError):  # its message is build_canvas's (positions or window)
        handles[0].result(timeout=60)
    assert handles[1].result(timeout=60).stop_reason in NORMAL


def test_bad_job_alone_is_answered_at_once_and_the_worker_serves_on(engine):
    h = engine.submit(_bad_job())
    assert h.done(), "refused at submit: the future already holds the error"
    with pytest.raises(ValueError, match="'tau' must be a finite number"):
        h.result(timeout=0)
    assert engine.stats()["errors"] == 1
    assert engine.submit(_good_job()).result(timeout=60).stop_reason in NORMAL


@pytest.mark.parametrize("fields, named", [
    (dict(params={"tau": "oops"}), "tau"),
    (dict(params={"tau": float("nan")}), "tau"),
    (dict(params={"tau": 1.5}), "tau"),
    (dict(params={"tau": True}), "tau"),
    (dict(strategy="margin", params={"k": 2.5}), "'k'"),
    (dict(strategy="factor", params={"factor": [1]}), "factor"),
    (dict(params={"temperature": "hot"}), "temperature"),
    (dict(params={"top_p": None}), "top_p"),
    (dict(params={"seed": "s"}), "seed"),
    (dict(params={"seed": -1}), "seed"),
    (dict(params={"nope": 1}), "nope"),
    (dict(params={"gap": "12"}), "gap"),
    (dict(params={"gap": 0}), "gap"),
    (dict(params={"grow": 2.0}), "grow"),
    (dict(params={"allow_empty": "yes"}), "allow_empty"),
    (dict(strategy="nope"), "unknown strategy"),
    (dict(max_tokens=10 ** 9), "max_tokens"),
])
def test_bad_params_are_refused_at_submit_naming_the_param(engine, fields, named):
    job = InfillJob(prefix="y = ", suffix="\n", max_tokens=fields.pop("max_tokens", 6), **fields)
    h = engine.submit(job)
    assert h.done()
    with pytest.raises(ValueError, match=named):
        h.result(timeout=0)


@pytest.mark.parametrize("fields, named", [
    (dict(prefix=5), "prefix"),
    (dict(suffix=b"x"), "suffix"),
    (dict(max_tokens="8"), "max_tokens"),
    (dict(max_tokens=0), "max_tokens"),
    (dict(mode=["line"]), "mode"),
    (dict(segments=["a", 3]), "segments"),
    (dict(segments=["only one"]), "segments"),
    (dict(gap_tokens=[1, 2]), "gap_tokens"),
    (dict(gap_tokens="4"), "gap_tokens"),
    (dict(key=7), "key"),
    (dict(deadline_s="soon"), "deadline_s"),
    (dict(params=[("tau", 0.5)]), "params"),
    (dict(strategy=None), "strategy"),
])
def test_ill_typed_fields_are_a_value_error_naming_the_field(engine, fields, named):
    with pytest.raises(ValueError, match=named):
        InfillJob(**fields)
    job = InfillJob(prefix="y = ")
    for name, value in fields.items():  # reassigned after construction: submit checks again
        setattr(job, name, value)
    h = engine.submit(job)
    with pytest.raises(ValueError, match=named):
        h.result(timeout=0)


def test_valid_params_still_accepted(engine):
    for strategy, params in [("threshold", {"tau": 1}), ("ltr", {"tau": 0.5, "gap": 4, "grow": 2}),
                             ("margin", {"k": 3, "seed": 0, "temperature": 0.5, "top_p": 0.9}),
                             ("factor", {"factor": 2}), ("entropy", {"allow_empty": True}), ("one", {})]:
        r = engine.submit(InfillJob(prefix="y = ", suffix="\n", max_tokens=4, strategy=strategy, params=params))
        assert r.result(timeout=60).stop_reason in NORMAL, (strategy, params)


def test_error_in_a_step_answers_every_job_of_the_batch_and_the_worker_serves_on(engine, monkeypatch):
    real_step = BatchRun.step

    def failing_step(self):
        if self.size >= 3:  # the first step after both newcomers joined
            raise RuntimeError("injected step fault")
        return real_step(self)

    monkeypatch.setattr(BatchRun, "step", failing_step)
    running = _started(engine, _running_job())
    joined = [engine.submit(_good_job()), engine.submit(_running_job())]  # they join the running batch
    for h in [running, *joined]:
        with pytest.raises(RuntimeError, match="injected step fault"):
            h.result(timeout=30)
    assert engine.stats()["errors"] == 1 + len(joined)
    assert engine.submit(_good_job()).result(timeout=60).stop_reason in NORMAL


def test_loop_checks_cover_the_loop_params():
    assert set(LOOP_CHECKS) == set(LOOP_PARAMS)


def test_cached_engine_survives_a_bad_joiner(tiny_model_dir, monkeypatch):
    """The default (cached) path: a joiner failing in add leaves the running job and the batch's
    cache intact."""
    engine = Engine.load(tiny_model_dir, device="cpu")
    try:
        monkeypatch.setattr(engine, "validate", lambda job: None)
        running = _started(engine, _running_job())
        bad, good = engine.submit(_bad_job()), engine.submit(_good_job())
        with pytest.raises(ValueError, match="tau"):
            bad.result(timeout=30)
        assert good.result(timeout=60).stop_reason in NORMAL
        assert running.result(timeout=60).stop_reason in NORMAL
        assert engine.submit(_good_job()).result(timeout=60).stop_reason in NORMAL
    finally:
        engine.close()
