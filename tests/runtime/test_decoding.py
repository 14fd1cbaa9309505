"""Decoding rules as properties over random logits, for every strategy: the mask id is never
emitted, end tokens only at the right edge (no padding holes), termination within n steps,
at least one commit per step, threshold semantics."""
from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.canvas import Canvas, Gap
from runtime.decoding import STRATEGIES, make_strategy
from runtime.infill import step

MASK, PAD, EOS, V = 0, 1, 2, 12
BLANK = 4  # a whitespace-only token


class RandomLogits:
    """Stands in for the model runner: random logits with end tokens made likely."""

    def __init__(self, seed: int, end_boost: float) -> None:
        self.g = torch.Generator().manual_seed(seed)
        self.end_boost = end_boost

    def fused_head(self, strategies) -> bool:
        return False  # logits come from here, not from kernels.gap_head

    def logits(self, canvases, positions):
        out = []
        for pos in positions:
            x = torch.randn(len(pos), V, generator=self.g) * 3
            x[:, PAD] += self.end_boost
            x[:, EOS] += self.end_boost
            out.append(x)
        return out


def make_canvas(sizes, budget_extra=0):
    ids, gaps = [5, 6], []
    for n in sizes:
        gaps.append(Gap(len(ids), len(ids) + n, n + budget_extra, 2))
        ids += [MASK] * n + [7, 8]
    return Canvas(ids=ids, gaps=gaps, mask_id=MASK, pad_id=PAD, stop_ids=frozenset({PAD, EOS}), blank_ids=frozenset({BLANK}))


params = {"one": {}, "threshold": {"tau": 0.5}, "factor": {"factor": 1.0}, "margin": {"k": 2}, "entropy": {"k": 3}, "ltr": {"tau": 0.5}}


@settings(max_examples=60, deadline=None)
@given(
    name=st.sampled_from(sorted(STRATEGIES)),
    sizes=st.lists(st.integers(1, 9), min_size=1, max_size=3),
    seed=st.integers(0, 10_000),
    end_boost=st.sampled_from([0.0, 2.0, 6.0]),
    temperature=st.sampled_from([0.0, 0.7]),
)
def test_rules_hold_for_every_strategy(name, sizes, seed, end_boost, temperature):
    canvas = make_canvas(sizes)
    strat = make_strategy(name, temperature=temperature, seed=seed, **params[name])
    runner = RandomLogits(seed, end_boost)
    n = sum(sizes)
    for _ in range(n):
        before = len(canvas.masked_positions())
        if not before:
            break
        step([canvas], [strat], runner, MASK)
        assert len(canvas.masked_positions()) < before, "at least one commit per step"
    assert canvas.finished(), f"a gap of {n} masks ends within {n} steps"
    assert canvas.steps <= n
    for g in canvas.gaps:
        toks = canvas.ids[g.start:g.end]
        assert MASK not in toks
        ends = [t in (PAD, EOS) for t in toks]
        if any(ends):
            first = ends.index(True)
            assert all(ends[first:]), f"end tokens form a right-edge run: {toks}"
            assert first > 0, "no empty fill unless allowed"
            assert any(t != BLANK for t in toks[:first]), f"a fill of only whitespace counts as empty: {toks}"


def test_threshold_commits_best_plus_all_above_tau():
    strat = make_strategy("threshold", tau=0.8)
    scores = torch.tensor([0.1, 0.85, 0.3, 0.95, 0.79])
    assert sorted(strat.select(scores, scores).tolist()) == [1, 3]
    low = torch.tensor([0.1, 0.2, 0.3])
    assert strat.select(low, low).tolist() == [2], "the single most confident even under tau"


def test_ltr_commits_the_leftmost_plus_its_confident_run():
    strat = make_strategy("ltr", tau=0.8)
    scores = torch.tensor([0.1, 0.85, 0.9, 0.3, 0.99])
    assert strat.select(scores, scores).tolist() == [0, 1, 2], "the 0.99 after a gap in the run waits"
    assert strat.select(scores[:1], scores[:1]).tolist() == [0]
    canvas = make_canvas([6])
    runner = RandomLogits(seed=5, end_boost=0.0)
    while not canvas.finished():
        before = canvas.masked_positions()
        step([canvas], [make_strategy("ltr", tau=0.99)], runner, MASK)
        assert canvas.ids[before[0]] != MASK, "the leftmost mask is filled every step"


def test_auto_is_the_models_declared_strategy():
    from runtime.decoding import resolve

    assert resolve("auto", {"strategy": "ltr", "max_context": 192}) == "ltr"
    assert resolve("auto", {}) == resolve("auto", None) == "threshold"
    assert resolve("auto", {"strategy": "no-such"}) == "threshold", "a bad config value never breaks serving"
    assert resolve("one", {"strategy": "ltr"}) == "one", "a named strategy is never overridden"
    assert make_strategy("auto", tau=0.5).name == "threshold"


def test_mask_never_chosen_even_when_most_likely():
    canvas = make_canvas([4])
    strat = make_strategy("one")

    class MaskLoving(RandomLogits):
        def logits(self, canvases, positions):
            out = super().logits(canvases, positions)
            for x in out:
                x[:, MASK] += 100.0
            return out

    for _ in range(4):
        step([canvas], [strat], MaskLoving(0, 0.0), MASK)
    assert canvas.finished() and MASK not in canvas.ids


def test_gap_grows_when_it_fills_without_an_end():
    canvas = make_canvas([2], budget_extra=5)

    class NoEnd(RandomLogits):
        def logits(self, canvases, positions):
            out = super().logits(canvases, positions)
            for x in out:
                x[:, [PAD, EOS]] = -1e9
            return out

    runner = NoEnd(1, 0.0)
    for _ in range(20):
        if canvas.finished():
            break
        step([canvas], [make_strategy("one")], runner, MASK)
    assert canvas.gaps[0].length == 7, "grew to its budget"
    assert canvas.layout_version > 0 and canvas.ids[-2:] == [7, 8]


def test_unknown_strategy_and_params_are_clear_errors():
    import pytest

    with pytest.raises(ValueError, match="unknown strategy"):
        make_strategy("nope")
    with pytest.raises(ValueError, match="tau"):
        make_strategy("threshold", k=3)


EXPAND = 3


@settings(max_examples=40, deadline=None)
@given(sizes=st.lists(st.integers(1, 6), min_size=1, max_size=2), extra=st.integers(0, 6), seed=st.integers(0, 10_000),
       name=st.sampled_from(["one", "threshold", "margin"]))
def test_dreamon_expand_token_opens_masks_within_budget(sizes, extra, seed, name):
    canvas = make_canvas(sizes, budget_extra=extra)
    canvas.expand_id = EXPAND
    budgets = [g.budget for g in canvas.gaps]

    class ExpandLoving(RandomLogits):
        def logits(self, canvases, positions):
            out = super().logits(canvases, positions)
            for x in out:
                x[:, EXPAND] += 4.0
            return out

    runner = ExpandLoving(seed, 1.0)
    strat = make_strategy(name, **params[name])
    # A step places at least one pick; an expansion adds a mask, a deletion removes one or more, and a
    # gap expands at most `budget` times (DreamOn's expand_budget): at most n + 2 * budget steps.
    for _ in range(sum(sizes) + 2 * sum(budgets)):
        if canvas.finished():
            break
        step([canvas], [strat], runner, MASK)
    assert canvas.finished(), "expansions are bounded by the budget, so the fill ends"
    assert EXPAND not in canvas.ids and MASK not in canvas.ids
    for g, budget in zip(canvas.gaps, budgets):
        assert g.length <= budget
        assert canvas.ids[g.end:g.end + 2] == [7, 8], "the text after each gap moved with it"
