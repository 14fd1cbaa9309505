"""Warm start from the previous fill (runtime/draft.py): how an old fill is re-aimed at a new job,
how a draft is checked (leave-half-out against the model's argmax, under the commit rules), and
that the engine drafts after a small edit and still ends with a valid fill."""
from __future__ import annotations

import torch

from runtime import Engine, InfillJob
from runtime.canvas import Canvas, Gap
from runtime.draft import LastFill, aim, check, place
from runtime.bans import apply as apply_bans

MASK, PAD, EOS, V = 0, 1, 2, 12


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


class Argmax:
    """Stands in for the runner: every masked position's argmax is `want[position]` (or token 5)."""

    def __init__(self, want: dict[int, int]) -> None:
        self.want, self.calls = want, []

    def logits(self, canvases, positions):
        out = []
        for pos in positions:
            self.calls.append(list(pos))
            x = torch.zeros(len(pos), V)
            for i, p in enumerate(pos):
                x[i, self.want.get(p, 5)] = 8.0
            out.append(x)
        return out


def canvas(n: int) -> Canvas:
    ids = [7, 8] + [MASK] * n + [9]
    return Canvas(ids=ids, gaps=[Gap(2, 2 + n, n, 4)], mask_id=MASK, pad_id=PAD, stop_ids=frozenset({PAD, EOS}))


def ban(logits, c, pos):
    return apply_bans(logits, c, pos, MASK)


def test_check_keeps_agreed_tokens_and_reopens_the_rest():
    c = canvas(6)
    positions = place(c, [5, 6, 5, PAD])
    assert c.ids[2:8] == [5, 6, 5, PAD, PAD, PAD], "a draft end token pads the slots to its right"
    runner = Argmax({5: PAD})  # agrees with tokens 5 and with the end, not with the 6
    kept = check(c, positions, runner, ban)
    assert runner.calls == [[2, 4], [3, 5]], "two forwards, each hiding every other draft position"
    assert kept == 3
    assert c.ids[2:8] == [5, MASK, 5, PAD, PAD, PAD]
    assert c.steps == 2 and c.gaps[0].end_token == PAD


def test_check_rejected_end_token_reopens_the_padding():
    c = canvas(6)
    positions = place(c, [5, 5, EOS])
    kept = check(c, positions, Argmax({}), ban)  # the model wants content (5) where the draft ends
    assert kept == 2
    assert c.ids[2:8] == [5, 5, MASK, MASK, MASK, MASK]
    assert c.gaps[0].end_token is None


def test_check_keeps_an_agreed_end_after_a_rejected_first_token_and_the_gap_stays_fillable():
    c = canvas(4)
    positions = place(c, [6, PAD])
    kept = check(c, positions, Argmax({3: PAD}), ban)  # rejects the 6, agrees with the end
    assert kept == 1 and c.ids[2:6] == [MASK, PAD, PAD, PAD]
    assert c.end_allowed([2]) == [False], "the reopened first slot must take content: never an empty fill"


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
