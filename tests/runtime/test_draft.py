"""Warm start from the previous fill (runtime/draft.py): how an old fill is re-aimed at a new job,
that checking a draft replays the cold decode (same answer, fewer forwards when the draft is
right), and that the engine drafts after a small edit and still ends with a valid fill."""
from __future__ import annotations

import pytest

from runtime import Engine, InfillJob
from runtime.decoding import make_strategy
from runtime.draft import LastFill, aim, check
from runtime.infill import RunOptions, build_canvas, step
from runtime.jobs import CancelToken
from runtime.loader import load_model
from runtime.runner import Runner

PAD = 1


def last(prefix: str, fill: str, suffix: str = "\nnext()\n", mode: str = "line") -> LastFill:
    return LastFill([prefix, suffix], mode, fill, PAD)


def job(prefix: str, suffix: str = "\nnext()\n", mode: str = "line") -> InfillJob:
    return InfillJob(prefix=prefix, suffix=suffix, mode=mode)


def test_aim_follows_edits_elsewhere_typing_and_deleting():
    old = last("x = 1\ny = foo(", "a, b)")
    assert aim(old, job("x = 2\ny = foo(")) == "a, b)", "an edit on another line keeps the fill"
    assert aim(old, job("x = 1\ny = foo(a")) == ", b)", "typed the fill's first character"
    assert aim(old, job("x = 1\ny = fo")) == "o(a, b)", "deleted a character before the cursor"


def test_aim_refuses_what_does_not_continue_the_old_job():
    old = last("x = 1\ny = foo(", "a, b)")
    assert aim(old, job("x = 1\ny = foo(z")) is None, "typed something the fill does not start with"
    assert aim(old, job("x = 1\ny = foo(a, b)")) is None, "typed the whole fill: nothing left"
    assert aim(old, job("x = 1\ny = foo(", "]\nnext()\n")) is None, "the rest of the cursor line changed"
    assert aim(old, job("x = 1\ny = foo(", mode="block")) is None, "another mode"
    assert aim(last("y = 0123456789(", "a)"), job("y = ")) is None, "deleted more than a few characters"
    assert aim(last("y = ", ""), job("y = ")) is None, "an empty old fill"
    assert aim(None, job("y = ")) is None
    many = InfillJob(segments=["a", "b", "c"])
    assert aim(old, many) is None, "several gaps"


@pytest.fixture(scope="module")
def model(tiny_model_dir):
    return load_model(tiny_model_dir)


def decode(model, text: tuple[str, str], draft: list[int] | None = None, strategy: str = "ltr"):
    """A one-canvas line job decoded to the end on the cached path, starting with check() when a
    draft is given; -> (canvas, forwards, draft tokens kept)."""
    job = InfillJob(prefix=text[0], suffix=text[1], mode="line", max_tokens=12, strategy=strategy)
    canvas = build_canvas(job, model, model.tokenizer, RunOptions(), CancelToken())
    strat = make_strategy(strategy, **({"tau": 0.9} if strategy == "ltr" else {}))
    runner, mask = Runner(model), model.spec.mask_id
    kept = check(canvas, draft, runner, strat, mask) if draft else 0
    while not canvas.finished() and canvas.stop_reason is None:
        step([canvas], [strat], runner, mask)
    return canvas, runner.full_forwards + runner.row_forwards, kept


TEXT = ("def add(a, b):\n    return a + b\n\nx = add(", ")\nprint(x)\n")


def test_check_replays_the_cold_decode_of_a_right_draft_in_fewer_forwards(model):
    cold, cold_forwards, _ = decode(model, TEXT)
    gap = cold.gaps[0]
    fill = cold.ids[gap.start: gap.end]
    end = next((i for i, t in enumerate(fill) if t in cold.end_ids), len(fill) - 1)
    draft = fill[: end + 1]  # the cold fill, with its end token if it has one
    assert len(draft) >= 3, "the tiny model writes a few tokens here"
    warm, forwards, kept = decode(model, TEXT, draft)
    assert warm.ids == cold.ids and warm.probs == pytest.approx(cold.probs, abs=1e-5), "the cold answer, exactly"
    assert kept == len(draft)
    assert forwards == 2 < cold_forwards, "step S_0, then every later state in one forward"
    assert warm.steps == 2


def test_check_with_a_wrong_draft_still_ends_with_the_cold_answer(model):
    cold, _, _ = decode(model, TEXT)
    for draft in ([5, 6, 7, 8], [cold.ids[cold.gaps[0].start], 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3]):
        warm, _, kept = decode(model, TEXT, draft)
        assert warm.ids == cold.ids, f"draft {draft}"
        assert kept < len(draft)


def test_check_with_a_strategy_that_does_not_fill_from_the_left_is_an_ordinary_step(model):
    cold, _, _ = decode(model, TEXT, strategy="threshold")
    gap = cold.gaps[0]
    warm, _, _ = decode(model, TEXT, cold.ids[gap.start: gap.end], strategy="threshold")
    assert warm.ids == cold.ids


def test_engine_drafts_after_an_edit_below_and_keeps_the_rules(tiny_model_dir):
    engine = Engine.load(tiny_model_dir, device="cpu")
    try:
        body = "".join(f"def f{i}(x):\n    return x + {i}\n\n" for i in range(12))
        prefix, suffix = body + "y = f1(", ")\nz = 1\n" + body
        first = engine.submit(InfillJob(prefix=prefix, suffix=suffix, key="doc", max_tokens=8)).result(30)
        edited = suffix.replace("return x + 5", "return x + 6")
        second = engine.submit(InfillJob(prefix=prefix, suffix=edited, key="doc", max_tokens=8)).result(30)
        assert first.timings["drafted"] == 0.0 and first.text, "a fill is never empty"
        assert second.timings["reused"] == 1.0
        assert second.timings["drafted"] >= 1.0, "the old fill became the draft"
        assert 0 <= second.timings["draft_kept"] <= second.timings["drafted"]
        assert "\n" not in second.text and second.stop_reason in ("eos", "pad", "eol", "budget")
    finally:
        engine.close()


def test_draft_option_off_means_no_draft(tiny_model_dir):
    engine = Engine.load(tiny_model_dir, device="cpu", draft=False)
    try:
        a = engine.submit(InfillJob(prefix="x = f(", suffix=")\n", key="d", max_tokens=6)).result(30)
        b = engine.submit(InfillJob(prefix="x = f(", suffix=")\n", key="d", max_tokens=6)).result(30)
        assert a.timings["drafted"] == b.timings["drafted"] == 0.0
    finally:
        engine.close()
