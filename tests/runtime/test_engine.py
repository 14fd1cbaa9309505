"""Engine behaviour on a tiny random checkpoint: batched equals one-by-one, cached path matches the
exact path where it must, cancellation lands within one step, latest wins, deadlines, errors."""
from __future__ import annotations

import time

import pytest
import torch

from runtime import Engine, InfillJob
from runtime.batch import run_batch
from runtime.infill import RunOptions
from runtime.jobs import CancelToken
from runtime.loader import load_model, new_model, save_model
from tests.helpers import qwen2_config, write_tokenizer

PROMPTS = [
    ("def add(a, b):\n    return ", "\n\nprint(add(1, 2))\n"),
    ("import os\n", "\nfor name in os.listdir('.'):\n    print(name)\n"),
    ("class Stack:\n    def __init__(self):\n        self.items = ", "\n\n    def push(self, x):\n        self.items.append(x)\n"),
]


@pytest.fixture(scope="module")
def varied_model(tmp_path_factory):
    """Random weights scaled up so that different contexts give different completions."""
    root = tmp_path_factory.mktemp("varied")
    tok = write_tokenizer(root / "tok")
    model = new_model(qwen2_config(vocab=tok.vocab_size, mask_id=0, eos_id=2, pad_id=1, shifted=False, hidden=48, layers=2), tok)
    g = torch.Generator().manual_seed(11)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.35)
    save_model(model, root / "m", root / "tok" / "tokenizer.json")
    return load_model(root / "m")


def _jobs(mode="block", strategy="threshold", **params):
    return [InfillJob(prefix=p, suffix=s, mode=mode, max_tokens=20, strategy=strategy, params=dict(params)) for p, s in PROMPTS]


@pytest.mark.parametrize("cached", [False, True])
def test_batched_equals_one_by_one(varied_model, cached):
    opts = RunOptions(cached=cached)
    jobs = _jobs(tau=0.5)
    together = run_batch(varied_model, varied_model.tokenizer, jobs, [CancelToken() for _ in jobs], opts)
    alone = [run_batch(varied_model, varied_model.tokenizer, [j], [CancelToken()], opts)[0] for j in jobs]
    assert len({r.text for r in alone}) > 1, "the model must give varied outputs for this test to mean anything"
    assert [r.text for r in together] == [r.text for r in alone]
    assert [r.steps for r in together] == [r.steps for r in alone]


def test_gap_rows_against_fresh_cache_equal_full_forward(varied_model):
    """The cached step's row path reproduces the full forward when the cache is fresh."""
    m = varied_model
    ids = torch.randint(3, m.arch.vocab_size, (2, 30), generator=torch.Generator().manual_seed(0))
    cache = m.new_cache()
    with torch.no_grad():
        full = m.hidden(ids, cache=cache)  # (2, 30, C)
        rows = torch.tensor([[4, 5, 6, 20], [0, 1, 2, 29]])
        part = m.hidden(ids.gather(1, rows), positions=rows, cache=cache, rows=rows)  # (2, 4, C)
    assert torch.allclose(part, full.gather(1, rows[..., None].expand(-1, -1, full.shape[-1])), atol=1e-5)


def test_cached_refresh_every_step_equals_exact(varied_model):
    exact = run_batch(varied_model, varied_model.tokenizer, _jobs(), [CancelToken() for _ in PROMPTS], RunOptions(cached=False))
    cached = run_batch(varied_model, varied_model.tokenizer, _jobs(), [CancelToken() for _ in PROMPTS],
                       RunOptions(cached=True, refresh_every=1))
    assert [r.text for r in exact] == [r.text for r in cached]


def test_line_mode_stops_at_newline_and_block_may_span_lines(varied_model):
    engine = Engine(varied_model, varied_model.tokenizer)
    try:
        for p, s in PROMPTS:
            r = engine.infill(p, s, mode="line", max_tokens=30)
            assert "\n" not in r.text
            assert r.stop_reason in ("eol", "eos", "pad", "budget")
            assert r.tokens <= 30
    finally:
        engine.close()


@pytest.fixture()
def engine(tiny_model_dir):
    e = Engine.load(tiny_model_dir, device="cpu")
    yield e
    e.close()


def _long_job(key=None):
    # A gap that grows to 400 tokens one token per step: hundreds of steps.
    return InfillJob(prefix="x = ", suffix="", mode="block", max_tokens=400, strategy="one", key=key,
                     params={"gap": 400})


def test_cancel_lands_within_one_step(engine):
    h = engine.submit(_long_job())
    while h.token.steps < 3:
        time.sleep(0.001)
    h.cancel()
    at_cancel = h.token.steps
    r = h.result(timeout=30)
    assert r.stop_reason == "cancelled"
    assert r.steps <= at_cancel + 1
    assert engine.stats()["cancelled"] == 1


def test_latest_wins_per_key(engine):
    old = engine.submit(_long_job(key="doc"))
    other = engine.submit(InfillJob(prefix="a", suffix="b", max_tokens=4, key="other"))
    new = engine.submit(InfillJob(prefix="y = ", suffix="\n", max_tokens=4, key="doc"))
    assert old.result(timeout=30).stop_reason == "cancelled"
    assert new.result(timeout=30).stop_reason != "cancelled"
    assert other.result(timeout=30).stop_reason != "cancelled"
    assert engine.stats()["superseded"] == 1


def test_deadline(engine):
    r = engine.submit(InfillJob(prefix="x", suffix="", max_tokens=400, strategy="one", deadline_s=0.0,
                                params={"gap": 400})).result(timeout=30)
    assert r.stop_reason == "deadline" and r.text == ""


def test_bad_job_is_an_error_for_that_caller_only(engine):
    bad = engine.submit(InfillJob(prefix="x", suffix="", strategy="nope"))
    with pytest.raises(ValueError, match="unknown strategy"):
        bad.result(timeout=30)
    assert engine.infill("def f():\n    ", "\n", max_tokens=4).stop_reason in ("eol", "eos", "pad", "budget")


def test_several_gaps_in_one_job(engine):
    r = engine.submit(InfillJob(segments=["a = ", "\nb = ", "\nc = ", "\n"], mode="block", max_tokens=6)).result(timeout=30)
    assert len(r.texts) == 3 and r.text == r.texts[0]
    assert engine.stats()["jobs"] == 1


def test_context_window_keeps_text_nearest_the_gap(varied_model):
    from runtime.infill import build_canvas

    tok = varied_model.tokenizer
    prefix, suffix = "a = 1\n" * 200, "b = 2\n" * 200
    job = InfillJob(prefix=prefix, suffix=suffix, mode="line", max_tokens=8)
    canvas = build_canvas(job, varied_model, tok, RunOptions(max_context=100), CancelToken())
    gap = canvas.gaps[0]
    before, after = canvas.ids[: gap.start], canvas.ids[gap.end:]
    full_prefix = tok.encode(prefix)
    newline = tok.newline_ids
    line = len(tok.encode("a = 1\n"))
    assert 75 - 32 - line < len(before) <= 75 and 100 - line < len(before) + len(after) <= 100
    dropped = len(full_prefix) - len(before)
    assert dropped % 32 < line and full_prefix[dropped - 1] in newline, \
        "the left edge moves in steps of 32 tokens, then on to the next line start"
    assert after[-1] in newline, "the suffix is cut at a line end"
    assert before == full_prefix[len(full_prefix) - len(before):] and after == tok.encode(suffix)[: len(after)]
    typed = build_canvas(InfillJob(prefix=prefix + "c", suffix=suffix, max_tokens=8), varied_model, tok,
                         RunOptions(max_context=100), CancelToken())
    assert typed.ids[:10] == canvas.ids[:10], "typing a few tokens keeps the window's start"
    short = build_canvas(InfillJob(prefix="x = ", suffix=suffix, max_tokens=8), varied_model, tok,
                         RunOptions(max_context=100), CancelToken())
    assert 100 - line < len(short.ids) - short.gaps[0].length <= 100, "a short prefix leaves its share to the suffix"


def test_preamble_keeps_its_head_within_a_quarter_of_the_window(varied_model):
    from runtime.infill import build_canvas

    tok = varied_model.tokenizer
    preamble = "# file: pkg/util.py\ndef helper(x):\n    return x * 2\n" * 20
    prefix = "value = 1\n" * 400 + "y = helper("
    job = InfillJob(prefix=prefix, suffix=")\n", mode="line", preamble=preamble)
    opts = RunOptions(max_context=128)
    canvas = build_canvas(job, varied_model, tok, opts, CancelToken())
    head = tok.encode(preamble)[: 128 // 4]
    assert canvas.ids[: len(head)] == head, "the preamble's head opens the canvas"
    assert len(canvas.ids) - canvas.gaps[0].length <= 128, "preamble + windowed text fit the window"
    plain = build_canvas(InfillJob(prefix=preamble + prefix, suffix=")\n", mode="line"), varied_model, tok, opts,
                         CancelToken())
    assert plain.ids[: len(head)] != head, "glued to the prefix, the window would have cut it away"


def test_warm_up_runs_a_job_and_leaves_the_counters_clean(tiny_model_dir):
    engine = Engine.load(tiny_model_dir, device="cpu")
    try:
        assert engine.warm_up() > 0
        st = engine.stats()
        assert st["jobs"] == 0 and st["latency_ms"]["p50"] == 0.0, "the warm-up job is not a user's"
        engine.infill("y = ", "\n", max_tokens=2)
        assert engine.stats()["jobs"] == 1
    finally:
        engine.close()


def test_blank_ids_cover_newlines_so_no_fill_is_only_whitespace(varied_model):
    tok = varied_model.tokenizer
    nl, spaces, word = tok.encode("\n"), tok.encode("    "), tok.encode("x")
    assert len(nl) == 1 and nl[0] in tok.blank_ids and nl[0] in tok.newline_ids
    assert all(i in tok.blank_ids for i in spaces) and word[0] not in tok.blank_ids
    prompts = ["def f(x):\n", "class A:\n    def g(self):\n", "import os\n\n", "if x:\n    pass\n"]
    jobs = [InfillJob(prefix=p, suffix="\n\nprint(1)\n", mode="block", max_tokens=6, strategy=s)
            for p in prompts for s in ("one", "threshold")]
    for r in run_batch(varied_model, tok, jobs, [CancelToken() for _ in jobs], RunOptions()):
        assert r.text.strip(), f"a whitespace-only block fill: {r.text!r}"
