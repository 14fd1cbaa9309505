"""The fixture part of `seed-lsp bench gpu` (run by runtime/bench_gpu_parts.py): a tiny Dream-format
checkpoint (model_type "Dream", shifted logits, untied head, bf16 safetensors in two shards + index,
the embedded model's tokenizer) written to a temp dir, then Engine.load(dir, device) and a few line
infills, twice over (the first round pays for Triton compiling its kernels): the default dtype (bf16
on CUDA) for latencies, and fp32 on the device and on the CPU to compare texts (informational: float
noise may flip a near-tie of random weights)."""
from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import torch

PROMPTS = [("def add(a, b):\n    return ", "\n\nprint(add(1, 2))\n"), ("import os\n\nx = ", "\n")]
DREAM_TINY = {"model_type": "Dream", "architectures": ["DreamModel"], "hidden_size": 64, "intermediate_size": 160,
              "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "rope_theta": 1e6,
              "rms_norm_eps": 1e-6, "tie_word_embeddings": False, "max_position_embeddings": 4096,
              "mask_token_id": 0, "pad_token_id": 1, "eos_token_id": 2, "torch_dtype": "bfloat16"}


def fixture_part(rec, smoke: bool) -> None:
    from kernels import status
    from runtime import Engine
    from runtime.embedded import HERE as EMBEDDED
    from runtime.loader import load_tokenizer, new_model, save_model

    device = "cpu" if smoke else "cuda"
    root = Path(tempfile.mkdtemp(prefix="seed-lsp-bench-gpu-"))
    with rec.stage("write"):
        tok = load_tokenizer(EMBEDDED)
        torch.manual_seed(0)
        model = new_model(DREAM_TINY | {"vocab_size": tok.vocab_size}, tok).to(torch.bfloat16)
        path = save_model(model, root / "dream-tiny", EMBEDDED / "tokenizer.json", shards=2)
        rec.data["files"] = sorted(p.name for p in path.iterdir())
    texts = {}
    loads = [(device, None)] + ([(device, torch.float32), ("cpu", torch.float32)] if device != "cpu" else [])
    for dev, dtype in loads:  # the default dtype (bf16 on CUDA) for latency; fp32 on both to compare
        label = f"{dev} {str(dtype)[6:] if dtype else 'default dtype'}"
        with rec.stage(f"load+infill {label}"):
            t0 = time.perf_counter()
            engine = Engine.load(path, device=dev, dtype=dtype)
            entry = {"load_ms": (time.perf_counter() - t0) * 1e3, "device": str(engine.model.device),
                     "dtype": str(engine.model.dtype)[6:], "shifted": engine.model.spec.shifted, "infills": []}
            rec.data.setdefault("loads", {})[label] = entry
            try:
                for prefix, suffix in PROMPTS * 2:  # the second round: warm latencies
                    t0 = time.perf_counter()
                    res = engine.infill(prefix, suffix, mode="line", max_tokens=12, timeout=120)
                    entry["infills"].append(
                        {"ms": (time.perf_counter() - t0) * 1e3, "text": res.text, "tokens": res.tokens,
                         "steps": res.steps, "stop_reason": res.stop_reason, "confidence": res.confidence})
            finally:
                engine.close()
            entry["kernels"] = status()
            texts[label] = [r["text"] for r in entry["infills"]]
    if "cuda float32" in texts and "cpu float32" in texts:  # informational: float noise may flip a near-tie
        rec.data["same_text_as_cpu_fp32"] = texts["cuda float32"] == texts["cpu float32"]
    shutil.rmtree(root, ignore_errors=True)
