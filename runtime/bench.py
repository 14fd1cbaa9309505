"""`seed-lsp bench runtime`: per-step ms and tokens/s of the reference loop against ours, one run.

reference : full bidirectional forward over the whole window (LM head over every row, as a
            transformers forward), one token committed per step.
exact     : full forward per step, threshold decoding (parallel commits, no cache).
cached    : dual cache (gap-only steps, refresh every R), threshold decoding  <- our default.
reuse     : cached, starting from the cache of the same canvas before a one-token edit a quarter of
            the context before the gap (runtime/reuse.py): its first step recomputes only the edit's
            window and the gap instead of a prefill.
Each path runs the same canvas (random context ids around a gap of masks) for at most --steps
steps. Reported: the first step (the cached path's prefill), the median and the minimum of the later
steps, tokens per step and tokens/s over all steps, ratios against the reference from the same run,
and the roofline: the bytes a gap step must move (runtime/roofline.py) at the device's bandwidth.
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from datetime import date

import torch
from tqdm import tqdm

from runtime.canvas import Canvas, Gap
from runtime.decoding import make_strategy
from runtime.infill import step
from runtime.models.base import DiffusionLM
from runtime.reuse import Carried, transplant
from runtime.roofline import bandwidth_gbs, step_bytes
from runtime.runner import Runner
from runtime.spec import ArchConfig, ModelSpec

SHAPES = {
    "qwen2-0.5b": dict(vocab_size=151936, hidden_size=896, intermediate_size=4864, num_layers=24, num_heads=14,
                       num_kv_heads=2, head_dim=64, rope_theta=1e6, rms_eps=1e-6, qkv_bias=True, tied_head=True),
    "dream-7b": dict(vocab_size=152064, hidden_size=3584, intermediate_size=18944, num_layers=28, num_heads=28,
                     num_kv_heads=4, head_dim=128, rope_theta=1e6, rms_eps=1e-6, qkv_bias=True),
}
PATHS = {
    "reference": dict(cached=False, strategy="one", params={}, head_all=True),
    "exact": dict(cached=False, strategy="threshold", params={"tau": 0.9}),
    "cached": dict(cached=True, strategy="threshold", params={"tau": 0.9}),  # ours, the default
    "reuse": dict(cached=True, strategy="threshold", params={"tau": 0.9}, reuse=True),
}


def shape_model(name: str, device: str, dtype: torch.dtype) -> DiffusionLM:
    """Random weights with a real model's dimensions, initialised like HF checkpoints (N(0, 0.02)):
    near-uniform predictions, so threshold decoding commits ~1 token per step (the worst case for it)."""
    arch = ArchConfig(**SHAPES[name])
    spec = ModelSpec(family="qwen2", mask_id=arch.vocab_size - 1, pad_id=arch.vocab_size - 2, eos_id=arch.vocab_size - 2, shifted=True)
    with torch.device(device):
        model = DiffusionLM(arch, spec)
    with torch.no_grad():
        for name_, p in model.named_parameters():
            if not name_.endswith("norm.weight"):
                p.normal_(0.0, 0.02)
    return model.to(dtype).eval()


def make_canvas(model, context: int, gap: int, seed: int) -> Canvas:
    g = torch.Generator().manual_seed(seed)
    ctx = torch.randint(3, model.arch.vocab_size - 3, (context,), generator=g).tolist()
    half = context // 2
    spec = model.spec
    ids = ctx[:half] + [spec.mask_id] * gap + ctx[half:]
    return Canvas(ids=ids, gaps=[Gap(half, half + gap, gap, gap)], mask_id=spec.mask_id, pad_id=spec.pad_id,
                  stop_ids=frozenset(spec.end_ids))


def header(model_name: str, device, dtype) -> dict:
    """What every bench JSON starts with: the model, where it ran, and when."""
    return {"model": model_name, "device": str(device), "dtype": str(dtype).replace("torch.", ""),
            "threads": torch.get_num_threads(), "machine": platform.processor() or platform.machine(),
            "date": date.today().isoformat()}


def sync(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


@torch.inference_mode()
def run_path(model, path: dict, context: int, gap: int, max_steps: int, refresh: int) -> dict:
    """Time each step; the first step of the cached path is its prefill (a full forward)."""
    canvas = make_canvas(model, context, gap, seed=context)
    strat = make_strategy(path["strategy"], **path["params"])
    runner = Runner(model, cached=path["cached"], refresh_every=refresh, head_all=path.get("head_all", False))
    warm = make_canvas(model, 16, 4, 1)  # warm-up on a tiny canvas: allocator and kernels, not timing
    step([warm], [strat], Runner(model, cached=path["cached"]), model.spec.mask_id)
    if path.get("reuse"):
        before = make_canvas(model, context, gap, seed=context)
        before.ids[context // 4] = (before.ids[context // 4] + 1) % (model.arch.vocab_size - 3) + 3  # the edit
        old = Runner(model, cached=True, refresh_every=refresh)
        old.logits([before], [before.masked_positions()])  # the request before the edit: its prefill
        runner.start_from(canvas, *transplant(Carried(before.ids, old.cache), canvas.ids, model, window=8))
    times = []
    while len(times) < max_steps and not canvas.finished():
        sync(model.device)
        t0 = time.perf_counter()
        step([canvas], [strat], runner, model.spec.mask_id)
        sync(model.device)
        times.append((time.perf_counter() - t0) * 1e3)
    later = sorted(times[1:]) or times
    return {"steps": len(times), "tokens": canvas.commits, "first_step_ms": times[0],
            "ms_per_step": later[len(later) // 2],  # median of the steps after the first
            "min_ms_per_step": later[0],
            "tokens_per_step": canvas.commits / len(times),
            "tokens_per_s": canvas.commits / (sum(times) / 1e3), "full_forwards": runner.full_forwards}


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="seed-lsp bench runtime", description=__doc__.split("\n")[0])
    src = p.add_mutually_exclusive_group()
    src.add_argument("--model", help="checkpoint directory (default: the embedded model)")
    src.add_argument("--shape", choices=sorted(SHAPES), help="random weights with a real model's dimensions")
    p.add_argument("--contexts", default="512,2048", help="comma-separated context lengths (tokens), e.g. 512,2048,8192,16384")
    p.add_argument("--gap", type=int, default=32)
    p.add_argument("--steps", type=int, default=8, help="at most this many steps per path")
    p.add_argument("--refresh", type=int, default=8)
    p.add_argument("--paths", default=",".join(PATHS))
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--dtype", choices=("auto", "fp32", "bf16"), default="auto")
    p.add_argument("--json", dest="json_out", help="write the results here")
    p.add_argument("--plot", help="also write a PNG of ms per step by path and context")
    a = p.parse_args(argv)
    from runtime.loader import load_model
    from runtime.placement import default_dtype, resolve_device

    if a.threads:
        torch.set_num_threads(a.threads)
    device = resolve_device(a.device)
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}.get(a.dtype) or default_dtype(device)
    if a.shape:
        model, name = shape_model(a.shape, str(device), dtype), a.shape
    else:
        from runtime.embedded import embedded_model_dir

        model = load_model(a.model or embedded_model_dir(), device=device, dtype=dtype)
        name = str(model.path)
    rows = []
    contexts = [int(c) for c in a.contexts.split(",")]
    paths = a.paths.split(",")
    for context in tqdm(contexts, desc="contexts"):
        for path in paths:
            r = run_path(model, PATHS[path], context, a.gap, a.steps, a.refresh)
            rows.append({"context": context, "path": path, **r})
    gbs, gbs_source = bandwidth_gbs(torch.device(device))
    for r in rows:
        r["roofline_ms"] = step_bytes(model, r["context"], a.gap) / (gbs * 1e9) * 1e3
        r["x_roofline"] = r["min_ms_per_step"] / r["roofline_ms"]
    for context in contexts:
        ref = next((r for r in rows if r["context"] == context and r["path"] == "reference"), None)
        for r in rows:
            if ref and r["context"] == context:
                r["speedup_tokens_per_s"] = r["tokens_per_s"] / ref["tokens_per_s"]
                r["step_ms_ratio"] = r["ms_per_step"] / ref["ms_per_step"]
    out = header(name, device, dtype) | {"gap": a.gap, "bandwidth_gbs": gbs, "bandwidth_source": gbs_source, "rows": rows}
    print(f"{'context':>8} {'path':>10} {'first ms':>9} {'ms/step':>9} {'min ms':>8} {'tok/step':>8} {'tok/s':>9} "
          f"{'speedup':>8} {'roof ms':>8} {'x roof':>7}")
    for r in rows:
        print(f"{r['context']:>8} {r['path']:>10} {r['first_step_ms']:>9.1f} {r['ms_per_step']:>9.1f} {r['min_ms_per_step']:>8.1f} "
              f"{r['tokens_per_step']:>8.2f} {r['tokens_per_s']:>9.2f} {r.get('speedup_tokens_per_s', 0):>8.2f} "
              f"{r['roofline_ms']:>8.3f} {r['x_roofline']:>7.1f}")
    if a.json_out:
        with open(a.json_out, "w") as f:
            json.dump(out, f, indent=1)
    if a.plot:
        from runtime.plots import plot_bench

        plot_bench(out, a.plot)
    return 0
