"""DreamOn's variable-length infilling (runtime/canvas.py, docs/dreamon.md): our loop against a
replay of the published algorithm, step by step, on scripted logits where expansions, deletions and
plain commits land in the same step; then each rule on its own.

The replay is written here from the rules of DreamLM/DreamOn eval/generator.py at commit 8a0a549
(MDMGenerator.batch_generate_with_expand_as_token), independently of runtime/: it works on a flat
id list, as their code does, and keeps each slot's "masked when the step began" flag beside its id
instead of shifting indices.
"""
from __future__ import annotations

import random

import pytest
import torch

from runtime import bans
from runtime.canvas import Canvas, Gap
from runtime.decoding import make_strategy
from runtime.infill import step

MASK, EOS, BOS, EXPAND, NL, SPACE = 0, 1, 2, 3, 4, 5  # Dream: pad = eos; SPACE is a whitespace token
A, B, C, D = 8, 9, 10, 11
V = 16
PREFIX, SUFFIX = [BOS, 6, 7], [12, 13, EOS]  # DreamOn's layout: [bos] prefix masks suffix [eos]


def row(top: int, h: float, *rest: int) -> torch.Tensor:
    """Logits (V,): `top` at h, each of `rest` one lower than the one before, the mask id never."""
    x = torch.zeros(V)
    x[MASK] = -1e9
    for i, tok in enumerate((top, *rest)):
        x[tok] = h - i
    return x


UNSURE = row(A, 0.3)  # a flat row: never the most confident


def dreamon_canvas(n: int, budget: int, allow_empty: bool = True, gaps: int = 1, **kw) -> Canvas:
    ids, gap_list = list(PREFIX), []
    for _ in range(gaps):
        gap_list.append(Gap(len(ids), len(ids) + n, budget, 1))
        ids += [MASK] * n + SUFFIX[:-1]
    ids.append(EOS)
    return Canvas(ids=ids, gaps=gap_list, mask_id=MASK, pad_id=EOS, stop_ids=frozenset({EOS}), expand_id=EXPAND,
                  allow_empty=allow_empty, **kw)


class Scripted:
    """Stands in for the model runner: script(step, gap index, offset in the gap) -> a row of logits."""

    def __init__(self, script) -> None:
        self.script = script

    def fused_head(self, strategies) -> bool:
        return False

    def logits(self, canvases, positions):
        out = []
        for c, pos in zip(canvases, positions):
            rows = []
            for p in pos:
                gi, g = next((i, g) for i, g in enumerate(c.gaps) if g.start <= p < g.end)
                rows.append(self.script(c.steps, gi, p - g.start))
            out.append(torch.stack(rows) if rows else torch.zeros(0, V))
        return out


def table(steps: list[dict]):
    """A script from per-step tables {offset: row} (gap 0; any other slot is UNSURE)."""
    return Scripted(lambda s, gi, off: steps[s].get(off, UNSURE) if s < len(steps) else UNSURE)


def run(canvas: Canvas, runner, k: int, steps: int) -> None:
    strat = make_strategy("entropy", k=k)
    for _ in range(steps):
        step([canvas], [strat], runner, MASK)


def span(c: Canvas, gi: int = 0) -> list[int]:
    g = c.gaps[gi]
    return c.ids[g.start:g.end]


class Replay:
    """DreamOn's published loop, one span, `k` picks a step (their number_transfer_tokens, 1 in
    eval/generator.py), alg "entropy", alg_temp 0, temperature 0:
    1. logits of the masks in the window; expand at -1e9 when the span is at max_gen_len (the
       window reached max_tokens) or expand_budget (max_gen_len expansions) is spent;
    2. x0 = argmax, confidence = sum p log(p + 1e-10); the k most confident masks take their x0;
    3. pad_eos_to_right: from the first EOS on, every slot masked when the step began becomes EOS;
    4. each expand becomes two masks (span + 1, expand_budget - 1);
    5. delete_eos_token: every EOS on a slot masked when the step began is removed (span - 1).
    The loop ends when the window holds no mask. Beyond k = 1, where their code never goes: at step
    4 the expands are taken most confident first while the span stays within max_gen_len (their code
    would cut the sequence's tail instead), and step 5 finds its slots by flag, not by an index taken
    before step 4 moved them."""

    TWO_MASKS = -1

    def __init__(self, ids: list[int], start: int, n: int, max_gen_len: int, k: int) -> None:
        self.x, self.start, self.n = list(ids), start, n
        self.max_gen_len, self.expand_budget, self.k = max_gen_len, max_gen_len, k
        self.steps = 0
        self.kinds: set[str] = set()  # what the last step did: "expand", "delete", "commit"

    def masked(self) -> list[int]:
        return [i for i in range(self.start, self.start + self.n) if self.x[i] == MASK]

    def step(self, script) -> None:
        masked = self.masked()
        logits = torch.stack([script(self.steps, 0, i - self.start) for i in masked]).double()  # (M, V)
        if self.n == self.max_gen_len or self.expand_budget == 0:
            logits[:, EXPAND] -= 1e9
        probs = logits.softmax(-1)
        confidence = (probs * torch.log(probs + 1e-10)).sum(-1)
        x0 = probs.argmax(-1)
        picks = confidence.topk(min(self.k, len(masked))).indices.tolist()  # most confident first
        cells = [[tok, i in masked] for i, tok in enumerate(self.x)]  # [id, masked when the step began]
        for j in picks:
            cells[masked[j]][0] = int(x0[j])
        first = next(i for i, (tok, _) in enumerate(cells) if tok == EOS)
        for cell in cells[first:]:
            if cell[1]:
                cell[0] = EOS
        self.kinds = {"commit"} if any(cells[masked[j]][0] not in (EOS, EXPAND) for j in picks) else set()
        room = min(self.max_gen_len - self.n, self.expand_budget)
        for j in picks:
            cell = cells[masked[j]]
            if cell[0] == EXPAND:
                cell[0] = self.TWO_MASKS if room > 0 else MASK
                room -= 1
        out = []
        for tok, was_masked in cells:
            if tok == self.TWO_MASKS:
                out += [MASK, MASK]
                self.n, self.expand_budget = self.n + 1, self.expand_budget - 1
                self.kinds.add("expand")
            elif tok == EOS and was_masked:
                self.n -= 1
                self.kinds.add("delete")
            else:
                out.append(tok)
        self.x = out
        self.steps += 1


def random_script(seed: int):
    """Per (step, offset): an expand, an EOS or content on top, with a content runner-up; the tops'
    heights are distinct within a step so that both sides rank the same picks."""
    def script(s: int, gi: int, off: int) -> torch.Tensor:
        heights = random.Random(seed * 7919 + s).sample(range(64), 64)
        rng = random.Random(seed * 1_000_003 + s * 1009 + off)
        right = off >= 3  # expands mostly on the left and EOS on the right: all three kinds in one step
        top = rng.choices([EXPAND, EOS, rng.randrange(A, V)], weights=[0.1 if right else 0.3, 0.3 if right else 0.05, 0.5])[0]
        second, third = rng.sample([t for t in range(A, V) if t != top], 2)
        # Heights in a range where entropy still tells them apart in float32 (a peak of 20 would not).
        return row(top, 0.5 + 0.05 * heights[off], second, third)
    return script


@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_our_loop_equals_the_published_replay_after_every_step(k):
    mixed = 0
    for seed in range(60):
        rng = random.Random(seed)
        n = rng.randint(1, 6)
        budget = rng.randint(n, 12)
        canvas = dreamon_canvas(n, budget)
        replay = Replay(canvas.ids, canvas.gaps[0].start, n, budget, k)
        script = random_script(seed)
        strat = make_strategy("entropy", k=k)
        for s in range(n + 2 * budget + 1):
            if not replay.masked():
                break
            replay.step(script)
            step([canvas], [strat], Scripted(script), MASK)
            assert canvas.ids == replay.x, f"seed {seed} k {k}: step {s} differs"
            assert canvas.gaps[0].length == replay.n and canvas.gaps[0].expanded == budget - replay.expand_budget
            mixed += replay.kinds == {"expand", "delete", "commit"}
        assert canvas.finished() and not replay.masked(), "both end together, within n + 2 * budget steps"
    if k >= 3:
        assert mixed >= 3, "the scripts put expansions, deletions and commits in the same step"


def test_a_step_with_an_expand_a_deletion_and_commits():
    """Step 1: content, an expand and content in one step (B keeps its slot beside the suffix).
    Step 2: an expand left of an EOS, and content between them. Step 3: an EOS, and content right of
    it in the same step: every slot masked when the step began from the EOS on goes."""
    canvas = dreamon_canvas(4, budget=8)
    g = canvas.gaps[0]
    runner = table([
        {0: row(A, 9), 1: row(EXPAND, 8, C), 3: row(B, 7)},  # [A M M M B]
        {1: row(EXPAND, 9, C), 2: row(C, 8), 3: row(EOS, 7, D)},  # [A x C E B] -> [A M M C B]
        {1: row(EOS, 9, D), 2: row(D, 8)},  # [A E D C B] -> [A C B]
    ])
    run(canvas, runner, k=3, steps=1)
    assert span(canvas) == [A, MASK, MASK, MASK, B] and g.expanded == 1
    run(canvas, runner, k=3, steps=1)
    assert span(canvas) == [A, MASK, MASK, C, B] and g.expanded == 2
    run(canvas, runner, k=3, steps=1)
    assert span(canvas) == [A, C, B] and canvas.finished()
    assert canvas.ids == PREFIX + [A, C, B] + SUFFIX, "the text around the gap is untouched"
    assert g.end_token == EOS and canvas.end_reason({EOS: "eos"}) == "eos"
    assert canvas.gap_tokens() == [[A, C, B]] and canvas.layout_version == 5, "one per edit"


def test_an_expand_becomes_two_masks_and_the_picks_right_of_it_keep_their_slots():
    canvas = dreamon_canvas(3, budget=6)
    run(canvas, table([{0: row(EXPAND, 9, C), 1: row(A, 8), 2: row(B, 7)}]), k=3, steps=1)
    assert span(canvas) == [MASK, MASK, A, B], "not [M, M, M, A] (a pick one slot left of its own)"
    assert canvas.ids[-len(SUFFIX):] == SUFFIX and canvas.gaps[0].length == 4


def test_an_eos_deletes_its_slot_and_the_masks_right_of_it_not_earlier_commits():
    canvas = dreamon_canvas(5, budget=5)
    runner = table([{3: row(C, 9)}, {1: row(EOS, 9, D)}])
    run(canvas, runner, k=1, steps=2)
    assert span(canvas) == [MASK, C], "slots 1, 2 and 4 (masks) went; C, committed earlier, stays"
    assert canvas.gaps[0].end_token == EOS and EOS not in span(canvas)


@pytest.mark.parametrize("eos_first", [True, False])
def test_content_placed_right_of_an_eos_in_the_same_step_goes_with_it(eos_first):
    """pad_eos_to_right turns every slot masked at the step's start into EOS from the first EOS on,
    whichever of the two picks was the more confident."""
    canvas = dreamon_canvas(3, budget=3)
    eos, content = (row(EOS, 9, D), row(D, 8)) if eos_first else (row(EOS, 8, D), row(D, 9))
    run(canvas, table([{1: eos, 2: content}]), k=2, steps=1)
    assert span(canvas) == [MASK]
    assert canvas.probs == [], "a wiped pick adds no confidence"


def test_expansions_stay_within_the_budget_in_length_and_in_count():
    canvas = dreamon_canvas(3, budget=4)
    run(canvas, table([{0: row(EXPAND, 9, A), 2: row(EXPAND, 8, B)}]), k=2, steps=1)
    assert span(canvas) == [MASK, MASK, MASK, MASK], "only the more confident expand fit; the other waits"
    g = canvas.gaps[0]
    assert g.length == g.budget == 4 and g.expanded == 1
    assert all(key[3] for key in bans.row_bans(canvas, canvas.masked_positions())), "at the budget: expand banned"
    logits = bans.apply(torch.stack([row(EXPAND, 9, A)] * 4), canvas, canvas.masked_positions(), MASK)
    assert torch.isneginf(logits[:, EXPAND]).all() and not torch.isneginf(logits[:, EOS]).any()

    spent = dreamon_canvas(2, budget=6)
    spent.gaps[0].expanded = 6  # DreamOn's expand_budget counts expansions, not length
    assert not spent.expand_allowed(spent.gaps[0].start) and spent.gaps[0].length < 6


def test_an_eos_is_allowed_anywhere_but_never_empties_the_fill():
    canvas = dreamon_canvas(3, budget=3, allow_empty=False, blank_ids=frozenset({SPACE}))
    g = canvas.gaps[0]
    keys = bans.row_bans(canvas, [g.start, g.start + 1, g.start + 2])
    assert [k[0] for k in keys] == [True, False, False], "the first slot's EOS would delete all three"
    one = dreamon_canvas(1, budget=3, allow_empty=False)
    assert not one.delete_allowed(one.gaps[0].start), "a lone slot deleted: an empty fill"
    assert one.may_place(one.gaps[0].start, A)
    blank = dreamon_canvas(2, budget=3, allow_empty=False, blank_ids=frozenset({SPACE}))
    blank.commit(blank.gaps[0].start, SPACE, 0.9)
    assert not blank.delete_allowed(blank.gaps[0].start + 1), "whitespace alone counts as empty"
    content = dreamon_canvas(2, budget=3, allow_empty=False)
    content.commit(content.gaps[0].start + 1, A, 0.9)
    assert content.delete_allowed(content.gaps[0].start), "left of committed content: the content stays"
    content.commit(content.gaps[0].start, EOS, 0.9)
    assert span(content) == [A] and content.finished()


def test_a_dreamon_gap_never_grows_at_its_edge_and_its_length_is_the_models_choice():
    canvas = dreamon_canvas(2, budget=6)
    run(canvas, table([{0: row(A, 9), 1: row(B, 8)}]), k=2, steps=1)
    assert canvas.finished() and span(canvas) == [A, B] and not canvas.grow_full_gaps()
    assert canvas.end_reason({EOS: "eos"}) == "eos", "under budget, not expanding was the model's choice"
    full = dreamon_canvas(2, budget=2)
    run(full, table([{0: row(A, 9), 1: row(B, 8)}]), k=2, steps=1)
    assert full.end_reason({EOS: "eos"}) == "budget"


def test_line_mode_newline_keeps_the_right_edge_rule_and_cuts_the_masks_after_it():
    canvas = dreamon_canvas(4, budget=4, line_ids=frozenset({NL}))
    g = canvas.gaps[0]
    canvas.commit(g.start + 2, B, 0.9)
    keys = bans.row_bans(canvas, [g.start, g.start + 1, g.start + 3])
    assert [k[1] for k in keys] == [True, True, False], "a newline only where nothing but masks follows"
    assert [k[0] for k in keys] == [False, False, False], "EOS (deletion) anywhere"
    canvas.commit(g.start + 3, NL, 0.9)
    assert span(canvas) == [MASK, MASK, B, NL] and g.end_token == NL
    cut = dreamon_canvas(4, budget=4, line_ids=frozenset({NL}))
    cut.commit(cut.gaps[0].start, A, 0.9)
    cut.commit(cut.gaps[0].start + 1, NL, 0.9)
    assert span(cut) == [A, NL] and cut.finished() and cut.gap_tokens() == [[A, NL]]


def test_edits_in_one_gap_move_the_next_and_both_land_where_predicted():
    canvas = dreamon_canvas(3, budget=5, gaps=2)
    script = {(0, 0): row(EXPAND, 9, A), (0, 2): row(A, 8), (1, 0): row(B, 7), (1, 1): row(EOS, 6, C)}
    runner = Scripted(lambda s, gi, off: script.get((gi, off), UNSURE) if s == 0 else UNSURE)
    run(canvas, runner, k=4, steps=1)
    g0, g1 = canvas.gaps
    assert span(canvas, 0) == [MASK, MASK, MASK, A] and span(canvas, 1) == [B]
    assert canvas.ids == PREFIX + [MASK, MASK, MASK, A] + SUFFIX[:-1] + [B] + SUFFIX
    assert g1.start == g0.end + len(SUFFIX) - 1


def test_a_fixed_canvas_keeps_the_right_edge_padding_rule():
    canvas = Canvas(ids=PREFIX + [MASK] * 4 + SUFFIX, gaps=[Gap(3, 7, 4, 2)], mask_id=MASK, pad_id=EOS,
                    stop_ids=frozenset({EOS}))
    canvas.commit(5, B, 0.9)
    assert canvas.end_allowed([3, 4, 6]) == [False, False, True]
    assert [k[0] for k in bans.row_bans(canvas, [3, 4, 6])] == [True, True, False]
    run(canvas, table([{0: row(A, 9), 1: row(C, 8), 3: row(EOS, 7)}]), k=3, steps=1)
    assert canvas.ids == PREFIX + [A, C, B, EOS] + SUFFIX, "no slot deleted: same length"
    assert canvas.layout_version == 0


@pytest.mark.parametrize("cached", [False, True])
def test_a_real_runner_follows_the_replay(tiny_shifted_model_dir, cached):
    """The tiny shifted checkpoint's logits (scaled down, expand and EOS made likely, the mask id
    never proposed: their code does not ban it, ours does) through our exact and cached runners; the
    exact path equals the replay fed with the model's own aligned logits (k = 1 as published, and 3),
    the cached path re-aligns its cache through every expansion and deletion."""
    from runtime.loader import load_model
    from runtime.runner import Runner

    model = load_model(tiny_shifted_model_dir)
    tok = model.tokenizer
    prefix = [BOS] + tok.encode("def f(a):\n    return ")
    suffix = tok.encode("\n\nprint(f(1))\n") + [EOS]
    expand = EXPAND  # any id of the tiny vocabulary will do

    def shape(x: torch.Tensor) -> torch.Tensor:  # (M, V) -> (M, V)
        x = x / 8
        x[:, expand] += 5.0
        x[:, EOS] += 3.0
        x[:, MASK] = -1e9
        return x

    class Boosted(Runner):
        def logits(self, canvases, positions):
            return [shape(x) for x in super().logits(canvases, positions)]

    for k in (1, 3):
        n, budget = 4, 10
        ids = prefix + [MASK] * n + suffix
        canvas = Canvas(ids=list(ids), gaps=[Gap(len(prefix), len(prefix) + n, budget, 1)], mask_id=MASK, pad_id=EOS,
                        stop_ids=frozenset({EOS}), expand_id=expand, allow_empty=True)
        runner = Boosted(model, cached=cached, refresh_every=4)
        replay = Replay(ids, len(prefix), n, budget, k)

        strat = make_strategy("entropy", k=k)
        kinds: set[str] = set()
        for _ in range(n + 2 * budget + 1):
            if canvas.finished():
                break
            step([canvas], [strat], runner, MASK)
            if not cached:  # the replay's own forward over its own ids: row i predicts token i
                full = shape(model.aligned_logits(torch.tensor([replay.x]))[0])  # (T, V)
                replay.step(lambda s, gi, off: full[replay.start + off])
                kinds |= replay.kinds
                assert canvas.ids == replay.x, f"k {k}: step {canvas.steps} differs from the replay"
        assert canvas.finished() and canvas.gaps[0].length <= budget
        assert canvas.ids[:len(prefix)] == prefix and canvas.ids[canvas.gaps[0].end:] == suffix
        assert expand not in canvas.ids and MASK not in canvas.ids
        assert canvas.gaps[0].expanded > 0, "the boosted expand was taken"
        if not cached:
            assert {"expand", "delete"} <= kinds
