"""Properties of the masked-diffusion / infill training batches (runtime/train/examples.py)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from runtime.train.examples import sample_batch

MASK, PAD, EOS, NL = 0, 1, 2, 3
VOCAB = 200
T = 64


def make_stream(seed: int = 0, n_files: int = 60) -> np.ndarray:
    """Files of lines of random content tokens (ids >= 4), each line ending in NL, files joined by EOS.
    Some lines are blank, as in real code."""
    rng = np.random.default_rng(seed)
    out: list[int] = []
    for _ in range(n_files):
        for _ in range(int(rng.integers(5, 40))):
            n = 0 if rng.random() < 0.1 else int(rng.integers(1, 15))
            out += rng.integers(4, VOCAB, n).tolist() + [NL]
        out.append(EOS)
    return np.asarray(out, dtype=np.uint16)


STREAM = make_stream()


def batch(seed: int = 0, **kw):
    args = dict(batch_size=32, seq_len=T, rng=np.random.default_rng(seed), newline_id=NL, mask_id=MASK,
                pad_id=PAD, eos_id=EOS)
    return sample_batch(STREAM, **(args | kw))


def is_excerpt(seq: np.ndarray) -> bool:
    """seq occurs contiguously in STREAM."""
    starts = np.flatnonzero(STREAM[: len(STREAM) - len(seq) + 1] == seq[0])
    return any(np.array_equal(STREAM[s:s + len(seq)], seq) for s in starts)


def test_shapes_dtypes_and_weights():
    b = batch(p_infill=0.5)
    for key in ("input_ids", "targets", "loss_mask", "weights"):
        assert b[key].shape == (32, T)
    assert b["input_ids"].dtype == b["targets"].dtype == torch.long
    assert b["loss_mask"].dtype == torch.bool and b["weights"].dtype == torch.float32
    assert b["gap"].shape == (32, 2) and set(b["kind"].tolist()) == {0, 1}
    assert (b["weights"][~b["loss_mask"]] == 0).all()
    assert b["loss_mask"].any(dim=1).all(), "every row has at least one loss position"
    for row_w, row_m in zip(b["weights"], b["loss_mask"]):
        w = row_w[row_m]
        assert (w >= 1.0).all() and torch.allclose(w, w[0].expand_as(w)), "one 1/t per row"


def test_loss_only_on_masked_positions_without_corruption():
    b = batch(p_infill=0.5)
    m = b["loss_mask"]
    assert (b["input_ids"][m] == MASK).all()
    assert (b["input_ids"][~m] == b["targets"][~m]).all()
    assert (b["targets"] != MASK).all()


def test_diffusion_rows_are_stream_windows_with_uniform_mask_ratio():
    b = batch(p_infill=0.0, batch_size=400)
    assert (b["kind"] == 0).all()
    for row in b["targets"][:20].numpy():
        assert is_excerpt(row)
    ratio = b["loss_mask"].float().mean(dim=1)
    assert 0.4 < ratio.mean().item() < 0.6, "t ~ U(0, 1) gives a mean mask ratio near 1/2"
    # The weight is 1/t, and the masked fraction estimates t: their product stays near 1 on average.
    w = b["weights"].max(dim=1).values
    assert 0.7 < (w * ratio).mean().item() < 1.3


def test_infill_gap_holds_middle_then_right_edge_pads():
    b = batch(p_infill=1.0, batch_size=200, max_slack=16)
    assert (b["kind"] == 1).all()
    saw_pads = saw_no_pads = False
    for row in range(200):
        tgt = b["targets"][row].numpy()
        lo, hi = b["gap"][row].tolist()
        assert 1 <= lo < hi <= T
        cols = np.flatnonzero(b["loss_mask"][row].numpy())
        assert cols.min() >= lo and cols.max() < hi, "loss only inside the gap"
        gap = tgt[lo:hi]
        pads = np.flatnonzero(gap == PAD)
        middle = gap[: len(gap) - len(pads)]
        assert len(middle) >= 1 and (middle != PAD).all() and (middle != EOS).all()
        assert np.array_equal(pads, np.arange(len(middle), len(gap))), "pads only at the gap's right edge"
        assert (tgt[:lo] != PAD).all() and (tgt[hi:] != PAD).all(), "no pads outside the gap"
        assert is_excerpt(np.concatenate([tgt[:lo], middle, tgt[hi:]])), "prefix + middle + suffix is real text"
        saw_pads |= len(pads) > 0
        saw_no_pads |= len(pads) == 0
    assert saw_pads and saw_no_pads


def test_infill_gaps_align_with_lines():
    b = batch(p_infill=1.0, batch_size=300)
    kinds = {"whole_lines": 0, "rest_of_line": 0, "multi_line": 0}
    for row in range(300):
        tgt = b["targets"][row].numpy()
        lo, hi = b["gap"][row].tolist()
        middle = tgt[lo:hi][tgt[lo:hi] != PAD]
        # The middle ends at a line end: it ends with the newline, or the suffix starts with it.
        assert middle[-1] == NL or (hi < T and tgt[hi] == NL)
        assert middle[0] != NL, "a middle never starts with a blank line"
        starts_line = tgt[lo - 1] in (NL, EOS)
        inner_newlines = int((middle[:-1] == NL).sum())
        if not starts_line:
            assert inner_newlines == 0, "a mid-line start only ever takes the rest of that line"
            kinds["rest_of_line"] += 1
        elif inner_newlines:
            kinds["multi_line"] += 1
        else:
            kinds["whole_lines"] += 1
    assert all(n > 20 for n in kinds.values()), kinds


def test_infill_partial_gap_masking():
    b = batch(p_infill=1.0, batch_size=200)
    fractions = []
    for row in range(200):
        lo, hi = b["gap"][row].tolist()
        fractions.append(b["loss_mask"][row, lo:hi].float().mean().item())
    assert min(fractions) < 0.5 and max(fractions) == 1.0, "gaps are partly and fully masked"


def test_determinism_with_seed():
    a, b, c = batch(seed=7), batch(seed=7), batch(seed=8)
    for key in a:
        assert torch.equal(a[key], b[key])
    assert not torch.equal(a["input_ids"], c["input_ids"])


def test_edit_corruption():
    dirty = batch(p_infill=0.5, seed=3, p_edit=0.1, vocab_size=VOCAB)
    m = dirty["loss_mask"]
    edited = m & (dirty["input_ids"] != MASK)
    assert edited.sum() > 20
    assert (dirty["input_ids"][edited] >= 3).all(), "edits never write a special token"
    assert (dirty["weights"][edited] == 1.0).all()
    assert (dirty["input_ids"][~m] == dirty["targets"][~m]).all(), "outside the loss the input is clean"
    for row in range(32):
        lo, hi = dirty["gap"][row].tolist()
        if dirty["kind"][row] == 1:
            cols = np.flatnonzero(edited[row].numpy())
            assert ((cols >= lo) & (cols < hi)).all(), "infill rows only edit inside the gap"
    with pytest.raises(ValueError):
        batch(p_edit=0.1)


def test_short_stream_is_rejected():
    with pytest.raises(ValueError):
        sample_batch(STREAM[:100], 2, T, np.random.default_rng(0), NL, MASK, PAD, EOS)


def test_multi_gap_rows_hold_several_middles_each_with_right_edge_pads():
    b = batch(p_infill=1.0, p_multi=1.0, batch_size=120, max_slack=8, seed=3)
    assert (b["kind"] == 2).float().mean() > 0.8, "most rows fit several gaps (the rest fall back to one)"
    for row in range(120):
        if b["kind"][row] != 2:
            continue
        tgt, m = b["targets"][row].numpy(), b["loss_mask"][row].numpy()
        pads = tgt == PAD
        assert not pads[0]
        assert is_excerpt(tgt[~pads]), "text + middles + text without the pads is real text"
        lo, hi = b["gap"][row].tolist()
        assert 1 <= lo < hi <= T and not m[:lo].any(), "no loss before the first gap"


def test_multi_gap_loss_covers_every_gap():
    from runtime.train.examples import multi_infill_row

    rng = np.random.default_rng(5)
    seen = 0
    for _ in range(50):
        row = multi_infill_row(STREAM, T, rng, NL, MASK, PAD, EOS, max_slack=4, eps=1e-3, n_gaps=3)
        if row is None:
            continue
        seen += 1
        gaps = row["gaps"]
        assert 1 <= len(gaps) <= 3 and gaps[0][0] >= 1 and gaps[-1][1] < T
        assert all(a[1] < b[0] for a, b in zip(gaps, gaps[1:])), "text between gaps"
        assert row["region"].sum() == sum(hi - lo for lo, hi in gaps)
        for lo, hi in gaps:
            middle = row["targets"][lo:hi][row["targets"][lo:hi] != PAD]
            assert len(middle) >= 1 and (row["targets"][lo:hi][len(middle):] == PAD).all(), "pads at the right edge"
    assert seen > 30


def test_ltr_rows_mask_a_tail_of_each_gap():
    """p_ltr: each gap shows a head and masks the rest (what ltr decoding's canvases look like)."""
    b = batch(p_infill=1.0, p_multi=0.5, p_ltr=1.0, batch_size=200, max_slack=8, seed=4)
    plain = batch(p_infill=1.0, p_multi=0.5, p_ltr=0.0, batch_size=80, max_slack=8, seed=4)
    tails = at_end = 0
    for row in range(200):
        m = b["loss_mask"][row].numpy()
        assert (b["input_ids"][row][b["loss_mask"][row]] == MASK).all()
        assert (b["weights"][row][b["loss_mask"][row]] == 1.0).all(), "plain CE, no 1/t"
        gaps = [tuple(b["gap"][row].tolist())] if b["kind"][row] == 1 else None
        if gaps is None:  # several gaps: the runs of masked positions, each must end a gap
            continue
        lo, hi = gaps[0]
        inside = m[lo:hi]
        first = int(np.flatnonzero(inside)[0])
        assert inside[first:].all() and not m[:lo].any() and not m[hi:].any(), "a masked tail, nothing else"
        tgt = b["targets"][row][lo:hi].numpy()
        n_middle = int((tgt != PAD).sum())
        assert first <= n_middle, "the cut never falls inside the pads"
        tails += first > 0
        at_end += first == n_middle < hi - lo
    assert tails > 20, "most gaps keep a visible head"
    assert at_end >= 5, "some gaps show the whole middle and ask for the first pad"
    # Independent masking (p_ltr=0) leaves holes inside the masked stretch in some rows: the test can fail.
    holes = sum(not b_m[np.flatnonzero(b_m)[0]:np.flatnonzero(b_m)[-1] + 1].all()
                for b_m in plain["loss_mask"].numpy() if b_m.any())
    assert holes > 10
