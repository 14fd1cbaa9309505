"""The model-running parts of `seed-lsp bench gpu` (runtime/bench_gpu.py starts each in a process
of its own): `python -m runtime.bench_gpu_parts step SHAPE OUT [--smoke] [--compile]` and
`python -m runtime.bench_gpu_parts fixture - OUT [--smoke]`.

step    random weights with a real model's shape, built in the bench dtype straight on the device
        (runtime/bench.py's shape_model builds in fp32 first: 2x the memory and time at 7B). Per
        context: runtime.bench.run_path on the cached path (the Runner's real gap step, threshold
        decoding, eager: the runtime has no CUDA-graph path), then the Runner's last gap-only forward
        + the fused head (kernels.gap_head) replayed alone: eager, under a hand-captured CUDA graph,
        and (--compile) under torch.compile(mode="reduce-overhead"). Roofline: the bytes a gap step
        reads (runtime/roofline.py's step_bytes, less an untied embedding table, of which a step
        gathers a few rows) over the bandwidth of a device-to-device copy measured here.
fixture a tiny Dream-format checkpoint -> Engine.load(dir, device) + infills (runtime/bench_gpu_fixture.py).
OUT is rewritten after every stage, so a part killed by its timeout keeps the stages it finished; a
stage that raises records its error under "errors" and the next stage runs. --smoke: CPU, tiny shapes.
"""
from __future__ import annotations

import json
import sys
import time
import traceback
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

import torch

SMALL = dict(vocab_size=1024, hidden_size=64, intermediate_size=128, num_layers=2, num_heads=4, num_kv_heads=2,
             head_dim=16)  # --smoke: a real shape's flags (bias, tied head) at these sizes
PLAN = {"contexts": (1024, 4096), "gap": 32, "steps": 8, "repeats": 20}
SMOKE_PLAN = {"contexts": (32, 64), "gap": 8, "steps": 3, "repeats": 3}


class Record:
    """The part's JSON, saved after every stage."""

    def __init__(self, path: str) -> None:
        self.path, self.data = Path(path), {"stage": None, "errors": {}, "stage_s": {}}

    def save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=1, default=str))
        tmp.replace(self.path)

    @contextmanager
    def stage(self, name: str):
        self.data["stage"] = name
        self.save()
        t0 = time.perf_counter()
        try:
            yield
        except Exception as err:  # the next stage runs; the error is the figure
            self.data["errors"][name] = f"{type(err).__name__}: {err}\n{traceback.format_exc(limit=-4)}"
        finally:
            self.data["stage_s"][name] = round(time.perf_counter() - t0, 3)
            self.save()


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_ms(fn, device: torch.device, repeats: int) -> float:
    """Median ms per call after two warm-up calls, wall clock between two synchronizes."""
    fn(), fn()
    samples = []
    for _ in range(repeats):
        sync(device)
        t0 = time.perf_counter()
        fn()
        sync(device)
        samples.append((time.perf_counter() - t0) * 1e3)
    return sorted(samples)[len(samples) // 2]


def random_model(arch, device: torch.device, dtype: torch.dtype):
    from runtime.models.base import DiffusionLM
    from runtime.spec import ModelSpec

    v = arch.vocab_size
    spec = ModelSpec(family="qwen2", mask_id=v - 1, pad_id=v - 2, eos_id=v - 2, shifted=True)
    before = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            model = DiffusionLM(arch, spec)
    finally:
        torch.set_default_dtype(before)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if not name.endswith("norm.weight"):
                p.normal_(0.0, 0.02)  # as runtime.bench.shape_model: HF-like, near-uniform predictions
    return model.eval()


def gap_forward(model, call):
    """The Runner's recorded gap-only forward + the fused head over its rows: a step's device work."""
    from kernels import gap_head

    args, kw = call
    kw = dict(kw, final_norm=False)
    return lambda: gap_head(model.hidden(*args, **kw)[0], model.norm.weight, model.norm.eps, model.head.weight)


def agree(a, b) -> dict:
    return {"top1_same": float((a.top1_id == b.top1_id).float().mean()),
            "lse_max_diff": float((a.lse - b.lse).abs().max())}


def graphed(fn):
    """fn captured in a CUDA graph (after warm-up on a side stream, as torch.cuda.graph asks)."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            fn()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        out = fn()
    return lambda: (graph.replay(), out)[1]


def step_part(rec: Record, shape: str, smoke: bool, compile_: bool) -> None:
    from kernels import forced, status
    from runtime.bench import PATHS, SHAPES, run_path
    from runtime.roofline import KNOWN_GBS, measured_copy_gbs, step_bytes
    from runtime.spec import ArchConfig

    device = torch.device("cpu" if smoke else "cuda")
    dtype = torch.float32 if smoke else torch.bfloat16
    plan = SMOKE_PLAN if smoke else PLAN
    arch = ArchConfig(**(SHAPES[shape] | SMALL if smoke else SHAPES[shape]))
    rec.data.update(shape=shape, device=str(device), dtype=str(dtype)[6:], arch=asdict(arch), plan=plan, rows=[])
    with rec.stage("build"):
        t0 = time.perf_counter()
        model = random_model(arch, device, dtype)
        sync(device)
        elt = torch.finfo(dtype).bits // 8
        rec.data.update(build_s=time.perf_counter() - t0, params=sum(p.numel() for p in model.parameters()),
                        untied_embed_bytes=0 if arch.tied_head else arch.vocab_size * arch.hidden_size * elt)
    if "build" in rec.data["errors"]:
        return
    with rec.stage("bandwidth"):
        name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
        rec.data["copy_gbs"] = measured_copy_gbs(device, mib=16 if smoke else 2048)
        rec.data["peak_gbs"] = next((g for key, g in KNOWN_GBS.items() if key in name), None)
    gbs = rec.data.get("copy_gbs")
    call = None
    for context in plan["contexts"]:
        calls, real = [], model.hidden

        def recording(*args, **kw):
            if kw.get("rows") is not None:
                calls[:] = [(args, kw)]
            return real(*args, **kw)

        row, this = {"context": context}, None  # this: the context's recorded gap-only call
        rec.data["rows"].append(row)
        with rec.stage(f"step {context}"):
            model.hidden = recording  # the Runner's gap-only calls, kept for the replays below
            try:
                r = run_path(model, PATHS["cached"], context, plan["gap"], plan["steps"], refresh=32)
            finally:
                del model.hidden
            row.update(step_ms=r["ms_per_step"], step_min_ms=r["min_ms_per_step"], first_step_ms=r["first_step_ms"],
                       steps=r["steps"], tokens_per_step=r["tokens_per_step"], full_forwards=r["full_forwards"])
            nbytes = step_bytes(model, context, plan["gap"]) - rec.data["untied_embed_bytes"]
            row.update(read_gb=nbytes / 1e9, roofline_ms=nbytes / (gbs * 1e9) * 1e3 if gbs else None)
            if not calls:
                raise RuntimeError("the Runner ran no gap-only step")
            call = this = calls[0]
            row["gap_rows"] = this[1]["rows"].shape[1]
            with torch.inference_mode():  # the cache holds inference tensors (run_path's mode)
                row["fwd_eager_ms"] = time_ms(gap_forward(model, this), device, plan["repeats"])
        if this is not None and device.type == "cuda":
            with rec.stage(f"graph {context}"), torch.inference_mode():
                fn = gap_forward(model, this)
                replay = graphed(fn)
                row["fwd_graph_ms"] = time_ms(replay, device, plan["repeats"])
                row["graph_vs_eager"] = agree(replay(), fn())
        for key in ("step_min_ms", "fwd_eager_ms", "fwd_graph_ms"):
            if row.get(key) and row.get("roofline_ms"):
                row[f"x_roofline_{key[:-3]}"] = row[key] / row["roofline_ms"]
        rec.data["kernels"] = status()
    if compile_ and call is not None:
        with rec.stage("compile"):
            rec.data["compile"] = compiled(model, call, device, plan, smoke, "auto")
        if "compile" in rec.data["errors"]:  # the kernels' launchers may not trace: the references do
            with rec.stage("compile-reference"), forced("reference"):
                rec.data["compile"] = compiled(model, call, device, plan, smoke, "reference")


def compiled(model, call, device, plan: dict, smoke: bool, kernels_mode: str) -> dict:
    """The gap forward + head under torch.compile (reduce-overhead on CUDA; eager backend in smoke)."""
    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    counters.clear()
    fn = gap_forward(model, call)
    opts = {"backend": "eager"} if smoke else {"mode": "reduce-overhead"}
    with torch.inference_mode():
        comp = torch.compile(fn, **opts)
        t0 = time.perf_counter()
        comp()
        sync(device)
        first_s = time.perf_counter() - t0
        ms = time_ms(comp, device, plan["repeats"])
        check = agree(comp(), fn())
    inductor = {k: v for k, v in counters["inductor"].items() if "cudagraph" in k}
    return {"context": plan["contexts"][-1], "kernels": kernels_mode, **opts, "first_call_s": first_s,
            "fwd_compiled_ms": ms, "vs_eager": check, "graph_breaks": sum(counters["graph_break"].values()),
            "graph_break_reasons": list(counters["graph_break"])[:5], "cudagraph_counters": inductor}


def main(argv: list[str]) -> int:
    part, name, out = argv[:3]
    rec = Record(out)
    rec.data.update(part=part, smoke="--smoke" in argv)
    if part == "step":
        step_part(rec, name, "--smoke" in argv, "--compile" in argv)
    else:
        from runtime.bench_gpu_fixture import fixture_part

        fixture_part(rec, "--smoke" in argv)
    rec.data["stage"] = "done"
    rec.save()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
