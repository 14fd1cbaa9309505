"""The embedded model ships in the package: Engine.load() with no path uses it, the CLI completes
with it end to end, and a short HumanEval eval runs on it."""
from __future__ import annotations

import json
import subprocess
import sys

from runtime import Engine
from runtime.embedded import embedded_model_dir
from runtime.eval.cli import main as eval_main

MAX_BYTES = 25 * 1024 * 1024


def test_embedded_checkpoint_is_small_shifted_and_names_its_strategy():
    root = embedded_model_dir()
    size = sum(p.stat().st_size for p in root.iterdir() if p.is_file())
    assert size <= MAX_BYTES, f"shipped model is {size / 2**20:.1f} MB"
    config = json.loads((root / "config.json").read_text())
    # Trained with causal rows on shifted logits; "auto" decodes it left to right.
    assert config["model_type"] == "qwen2" and config["logits_shifted"] is True
    assert config["seed_lsp_defaults"]["strategy"] == "ltr"
    assert json.loads((root / "training.json").read_text())["tokens"] > 10_000_000


def test_engine_load_without_a_path_uses_the_embedded_model():
    engine = Engine.load(device="cpu")
    try:
        assert engine.model.path == embedded_model_dir()
        r = engine.infill("def add(a, b):\n    return ", "\n", mode="line", max_tokens=16)
        assert r.stop_reason in ("eol", "eos", "pad", "budget") and "\n" not in r.text
        assert r.tokens >= 1 and r.steps >= 1
    finally:
        engine.close()


def test_cli_complete_with_the_embedded_model(tmp_path):
    src = tmp_path / "demo.py"
    src.write_text("def square(x):\n    return x * x\n\n\ndef cube(x):\n    \n")
    out = subprocess.run([sys.executable, "-m", "seed_lsp.cli", "complete", f"{src}:6:5", "--json"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["mode"] == "block" and result["stop_reason"] in ("eos", "pad", "budget")
    bad = subprocess.run([sys.executable, "-m", "seed_lsp.cli", "complete", f"{src}:99:1"], capture_output=True, text=True)
    assert bad.returncode != 0 and "line 99 is outside the file" in bad.stderr


def test_short_humaneval_eval_on_the_embedded_model(tmp_path):
    out = tmp_path / "summary.json"
    assert eval_main(["humaneval", "--split", "single-line", "--limit", "5", "--quiet", "--json", str(out)]) == 0
    summary = json.loads(out.read_text())
    assert summary["n"] == 5 and 0.0 <= summary["pass@1"] <= 100.0
