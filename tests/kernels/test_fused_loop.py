"""The decoding loop on the fused head: with the gap_head kernel in use (forced here, on CPU under
the Triton interpreter; auto on CUDA), greedy proposals come from kernels.gap_head instead of (M, V)
logits, and whole infills (bans included: line mode, end tokens, several gaps) come out exactly as
on the logits path."""

from __future__ import annotations

import pytest
import torch

from kernels import forced
from runtime import InfillJob
from runtime.decoding import make_strategy
from runtime.batch import run_batch
from runtime.infill import RunOptions
from runtime.jobs import CancelToken
from runtime.loader import load_model
from runtime.runner import Runner
from tests.kernels.util import DEVICES

JOBS = [
    InfillJob(prefix="def add(a, b):\n    return ", suffix="\n\nprint(add(1, 2))\n", mode="line", max_tokens=10),
    InfillJob(prefix="import os\n\n", suffix="\n    return x\n", mode="block", max_tokens=14),
    InfillJob(segments=["x = ", "\ny = ", "\n"], mode="block", max_tokens=5),
    InfillJob(prefix="for i in range(", suffix="):\n    pass\n", mode="line", max_tokens=8, strategy="margin", params={"k": 2}),
]


@pytest.mark.parametrize("device", DEVICES)
def test_fused_head_loop_equals_logits_loop(tiny_model_dir, device):
    model = load_model(tiny_model_dir, device=device, dtype=torch.float32)
    greedy = [make_strategy("threshold"), make_strategy("one")]
    with forced("triton"):
        assert Runner(model).fused_head(greedy), "the loop takes the fused path when the kernel runs"
        assert not Runner(model).fused_head([make_strategy("one", temperature=0.5)]), "sampling needs logits"
        assert not Runner(model, cached=False, head_all=True).fused_head(greedy), "the reference keeps its logits"
    for cached in (True, False):
        opts = RunOptions(cached=cached, draft=False)
        with forced("reference"):
            plain = run_batch(model, model.tokenizer, JOBS, [CancelToken() for _ in JOBS], opts)
        with forced("triton"):
            fused = run_batch(model, model.tokenizer, JOBS, [CancelToken() for _ in JOBS], opts)
        for a, b in zip(plain, fused):
            assert (a.texts, a.steps, a.stop_reason, a.tokens) == (b.texts, b.steps, b.stop_reason, b.tokens)
            assert abs(a.confidence - b.confidence) < 1e-4
