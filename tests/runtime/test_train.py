"""The training recipe end to end on a tiny model: a run trains and saves, resumes where it stopped,
logs the held-out line probe, exports a checkpoint the runtime loads and serves, and plots."""
from __future__ import annotations

import inspect
import json

import numpy as np

from runtime import Engine
from runtime.train.cli import main as train_main
from runtime.train.probe import probe_lines
from tests.helpers import write_tokenizer


def make_data(root):
    import argparse, csv, textwrap  # noqa: E401  (their sources are the data)

    tok = write_tokenizer(root)
    eos = tok.token_to_id("<|endoftext|>")
    ids = []
    for module in (argparse, csv, textwrap):
        ids += tok.encode(inspect.getsource(module)) + [eos]
    stream = np.asarray(ids, dtype=np.uint16)
    (root / "tokens").mkdir()
    cut = len(stream) * 9 // 10
    stream[:cut].tofile(root / "tokens" / "train.bin")
    stream[cut:].tofile(root / "tokens" / "heldout.bin")
    return tok


SMALL = ["--hidden", "32", "--layers", "1", "--heads", "2", "--kv-heads", "1", "--intermediate", "64", "--seq-len", "96",
         "--batch", "4", "--warmup", "2", "--log-every", "2", "--threads", "1", "--no-bf16"]


def test_train_resume_probe_export_serve(tmp_path):
    data, run, out = tmp_path / "data", tmp_path / "run", tmp_path / "export"
    make_data(data)
    args = ["run", "--data", str(data), "--run", str(run), "--minutes", "0.05", "--save-every-min", "0.02", *SMALL]
    assert train_main(args) == 0
    first = json.loads((run / "state.json").read_text())
    assert first["step"] > 0 and first["tokens"] == first["step"] * 4 * 96
    assert 0 <= first["probe_exact"] <= 100 and 0 <= first["probe_nonempty"] <= 100
    assert 0 <= first["probe_stop"] <= 1 and 0 <= first["probe_stop_top"] <= 100
    assert train_main(args) == 0, "a second invocation resumes the run"
    second = json.loads((run / "state.json").read_text())
    assert second["step"] > first["step"] and second["tokens"] > first["tokens"]
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert any("loss" in r for r in log) and any("probe_exact" in r for r in log)
    assert train_main(["export", "--run", str(run), "--out", str(out)]) == 0
    shipped = json.loads((out / "training.json").read_text())
    assert shipped["step"] == second["step"]
    # One history entry per invocation, chained, with the settings that differ from the defaults.
    first_run, second_run = shipped["history"]
    assert first_run["from_tokens"] == 0 and first_run["to_tokens"] == first["tokens"] == second_run["from_tokens"]
    assert second_run["to_tokens"] == second["tokens"] and second_run["settings"]["hidden"] == 32
    exported = json.loads((out / "config.json").read_text())
    assert exported["logits_shifted"] is True  # the causal rows' convention
    assert exported["seed_lsp_defaults"]["strategy"] == "ltr"  # what "auto" runs for this checkpoint
    engine = Engine.load(out, device="cpu")
    try:
        assert engine.model.spec.shifted
        auto = engine.infill("def f(x):\n    y = x + 1\n    return ", "\n", mode="block", max_tokens=12)
        ltr = engine.infill("def f(x):\n    y = x + 1\n    return ", "\n", mode="block", max_tokens=12, strategy="ltr")
        assert (auto.text, auto.steps, auto.tokens) == (ltr.text, ltr.steps, ltr.tokens)
        r = engine.infill("def f(x):\n    return ", "\n", mode="line", max_tokens=6)
        assert r.stop_reason in ("eos", "pad", "eol", "budget")
    finally:
        engine.close()
    assert train_main(["probe", "--model", str(out), "--data", str(data), "--n", "4"]) == 0
    assert train_main(["plot", "--run", str(run), "--out", str(tmp_path / "loss.png")]) == 0
    assert (tmp_path / "loss.png").read_bytes()[:4] == b"\x89PNG"


def test_probe_lines_are_nonblank_middles_of_real_text(tmp_path):
    tok = make_data(tmp_path)
    tokens = np.fromfile(tmp_path / "tokens" / "train.bin", dtype=np.uint16)
    cuts = probe_lines(tok, tokens, n=10, seed=1)
    assert len(cuts) == 10
    text = tok.decode([int(t) for t in tokens])
    for prefix, middle, suffix in cuts:
        assert middle.strip() and "\n" not in middle
        assert prefix.endswith("\n") and suffix.startswith("\n")
        assert prefix[-60:] + middle + suffix[:60] in text
    assert cuts == probe_lines(tok, tokens, n=10, seed=1), "the same lines every time"


def test_compiled_training_forward_matches_eager(tmp_path):
    """--compile changes speed, not the loss or its gradients (same batch, same weights)."""
    import torch

    from runtime.train.loop import TrainConfig, Trainer

    make_data(tmp_path / "data")
    kw = dict(data=str(tmp_path / "data"), hidden=32, layers=1, heads=2, kv_heads=1, intermediate=64, seq_len=96,
              batch=4, threads=1, bf16=False)
    eager = Trainer(TrainConfig(run=str(tmp_path / "a"), **kw))
    compiled = Trainer(TrainConfig(run=str(tmp_path / "b"), compile=True, **kw))
    compiled.model.load_state_dict(eager.model.state_dict())
    batch = eager.train_batch()
    assert bool(batch["causal"].any()) and not bool(batch["causal"].all())  # both attention kinds
    losses = []
    for t in (eager, compiled):
        loss = t._loss(batch)
        loss.backward()
        losses.append(loss.detach())
    assert compiled.hidden is not compiled.model.hidden  # really the compiled callable
    torch.testing.assert_close(losses[1], losses[0], rtol=1e-4, atol=1e-5)
    for (name, a), b in zip(eager.model.named_parameters(), compiled.model.parameters()):
        torch.testing.assert_close(b.grad, a.grad, rtol=1e-3, atol=1e-5, msg=name)


def test_stop_probe_reads_the_first_pad_of_a_shown_middle(tmp_path):
    """stop_probe asks for the pad at the first masked position after a whole visible middle."""
    import torch

    from runtime.train.probe import stop_probe

    tok = make_data(tmp_path)
    tokens = np.fromfile(tmp_path / "tokens" / "train.bin", dtype=np.uint16)
    ids = dict(newline_id=tok.token_to_id("\u010a"), mask_id=0, pad_id=1, eos_id=2)

    class Spike(torch.nn.Module):
        """Logits that put the pad on top at every mask whose left neighbour is shifted by `at`."""

        def __init__(self, at: int) -> None:
            super().__init__()
            self.at = at

        def forward(self, canvas):  # (R, T) -> (R, T, V)
            logits = torch.zeros(*canvas.shape, 400)
            first = (canvas == 0) & (torch.roll(canvas, 1, dims=1) != 0)  # (R, T) first mask of a run
            logits[..., 1] = torch.where(torch.roll(first, self.at, dims=1), 20.0, -20.0)
            return logits

    right = stop_probe(Spike(0), tokens, ids, n=16, seq_len=96)
    off_by_one = stop_probe(Spike(1), tokens, ids, n=16, seq_len=96)
    assert right["probe_stop"] > 0.99 and right["probe_stop_top"] == 100.0
    assert off_by_one["probe_stop"] < 0.01 and off_by_one["probe_stop_top"] == 0.0
