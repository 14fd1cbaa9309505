"""Reuse across keystrokes: the carried cache is re-aligned exactly (layer-0 keys/values depend only
on token and position, so after re-rotation they must equal a fresh forward's), and the engine
uses it for the next job of the same document."""
from __future__ import annotations

import torch

from runtime import Engine, InfillJob
from runtime.infill import heal_indent
from runtime.loader import load_model
from runtime.reuse import Carried, common_ends, transplant


def test_common_ends():
    assert common_ends([1, 2, 3, 4, 5], [1, 2, 9, 4, 5]) == (2, 2)
    assert common_ends([1, 2, 3], [1, 2, 3, 3]) == (3, 0)
    assert common_ends([7, 7], [7, 7, 7]) == (2, 0)


def test_transplant_realigns_prefix_and_rerotates_suffix(tiny_model_dir):
    m = load_model(tiny_model_dir)
    g = torch.Generator().manual_seed(0)
    old = torch.randint(3, m.arch.vocab_size, (60,), generator=g).tolist()
    new = old[:30] + [11, 12, 13] + old[31:]  # one token replaced by three: the suffix moves by +2
    cache_old = m.new_cache()
    cache_new = m.new_cache()
    with torch.no_grad():
        m.hidden(torch.tensor([old]), cache=cache_old)
        m.hidden(torch.tensor([new]), cache=cache_new)
    seeded, stale = transplant(Carried(old, cache_old), new, m, window=0)
    assert stale == [30, 31, 32]
    keep = [i for i in range(len(new)) if i not in stale]
    k0, v0 = seeded.k[0][:, :, keep], seeded.v[0][:, :, keep]
    assert torch.allclose(k0, cache_new.k[0][:, :, keep], atol=1e-5)
    assert torch.allclose(v0, cache_new.v[0][:, :, keep], atol=1e-5)
    assert transplant(Carried(old, cache_old), list(range(100, 160)), m, window=0) is None, "nothing shared"


def test_engine_reuses_the_cache_after_a_one_character_edit(tiny_model_dir):
    engine = Engine.load(tiny_model_dir, device="cpu")
    try:
        body = "".join(f"def f{i}(x):\n    return x + {i}\n\n" for i in range(20))
        first = engine.submit(InfillJob(prefix=body + "y = f1(", suffix=")\n" + body, key="doc")).result(30)
        second = engine.submit(InfillJob(prefix=body + "y = f1(2", suffix=")\n" + body, key="doc")).result(30)
        other = engine.submit(InfillJob(prefix=body + "y = f1(2", suffix=")\n" + body, key="other")).result(30)
        assert first.timings["reused"] == 0.0
        assert second.timings["reused"] == 1.0
        assert other.timings["reused"] == 0.0
    finally:
        engine.close()


def test_heal_indent_moves_a_blank_indented_line_into_the_gap():
    assert heal_indent(["def f():\n    ", "\n"]) == (["def f():\n", "\n"], "    ")
    assert heal_indent(["x = 1", "\n"]) == (["x = 1", "\n"], "")
    assert heal_indent(["def f():\n    x = ", "\n"])[1] == ""


def test_a_growing_gap_realigns_the_cache_instead_of_a_full_forward(tiny_model_dir):
    from runtime.canvas import Canvas, Gap
    from runtime.runner import Runner

    m = load_model(tiny_model_dir)
    g = torch.Generator().manual_seed(1)
    ctx = torch.randint(3, m.arch.vocab_size, (40,), generator=g).tolist()
    spec = m.spec
    canvas = Canvas(ids=ctx[:20] + [spec.mask_id] * 3 + ctx[20:], gaps=[Gap(20, 23, 9, 3)], mask_id=spec.mask_id,
                    pad_id=spec.pad_id, stop_ids=frozenset(spec.end_ids))
    runner = Runner(m, cached=True)
    runner.logits([canvas], [canvas.masked_positions()])
    for p in range(20, 23):
        canvas.commit(p, 7 + p, 0.5)
    assert canvas.grow_full_gaps(), "the full gap grew: later positions moved"
    runner.logits([canvas], [canvas.masked_positions()])
    assert runner.full_forwards == 1, "growth re-aligned the cache"
    fresh = m.new_cache()
    with torch.no_grad():
        m.hidden(torch.tensor([canvas.ids]), cache=fresh)
    # Layer 0's keys/values depend on token and position only: after the gap-only step they must
    # equal a fresh forward's at every position (moved suffix re-rotated, new masks computed).
    assert torch.allclose(runner.cache.k[0], fresh.k[0], atol=1e-5)
    assert torch.allclose(runner.cache.v[0], fresh.v[0], atol=1e-5)


def test_carried_caches_age_and_a_full_forward_renews_them_deep_layers_included(tiny_model_dir):
    """A typing session: every job after the first starts from the last one's cache, whose far
    context is copied, not recomputed; past reuse_max_age jobs a full forward renews it. After that
    refresh the deepest layer's K/V equal a cold job's; before it they had drifted (the control)."""
    from runtime.batch import run_carrying
    from runtime.infill import RunOptions
    from runtime.jobs import CancelToken

    m = load_model(tiny_model_dir)
    body = "".join(f"def f{i}(x):\n    return x + {i}\n\n" for i in range(12))

    def job(k: int) -> InfillJob:  # the k-th text of the session: one more constant changed below
        text = body
        for i in range(k):
            text = text.replace(f"x + {i}\n", f"x + {i + 20}\n")
        return InfillJob(prefix=body + "y = f1(", suffix=")\nz = 2\n" + text, max_tokens=4, strategy="one")

    def run(k: int, opts, carried=None):
        results, carry = run_carrying(m, m.tokenizer, [job(k)], [CancelToken()], opts, carried)
        return results[0], carry

    def drift(a, b) -> float:  # relative difference of the deepest layer's keys and values
        return max(float((x[-1] - y[-1]).norm() / y[-1].norm()) for x, y in ((a.k, b.k), (a.v, b.v)))

    opts = RunOptions(reuse_max_age=2, draft=False)
    _, carry = run(0, opts)
    assert carry.age == 0
    drifts = []
    for k in (1, 2, 3):
        result, carry = run(k, opts, carry)
        _, cold = run(k, opts)
        assert carry.ids == cold.ids
        drifts.append(drift(carry.cache, cold.cache))
        assert (result.timings["reused"], carry.age) == ((1.0, k) if k <= 2 else (0.0, 0)), f"job {k}"
    assert drifts[1] > 1e-3, "two copies old, the deep layers have drifted from a cold forward"
    assert drifts[2] < 1e-5, "the enforced full forward equals a cold one in the deepest layer"


def test_transplant_refuses_a_cache_older_than_max_age(tiny_model_dir):
    m = load_model(tiny_model_dir)
    ids = list(range(3, 43))
    cache = m.new_cache()
    with torch.no_grad():
        m.hidden(torch.tensor([ids]), cache=cache)
    new = ids[:20] + [50] + ids[21:]
    assert transplant(Carried(ids, cache, age=1), new, m, window=0, max_age=2) is not None
    assert transplant(Carried(ids, cache, age=2), new, m, window=0, max_age=2) is None
    assert transplant(Carried(ids, cache, age=99), new, m, window=0) is not None, "None: no bound"
