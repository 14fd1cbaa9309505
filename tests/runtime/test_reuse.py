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
