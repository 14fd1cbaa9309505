"""`seed-lsp bench gpu [--out bench/gpu-<date>.json]`: what to run the moment a GPU is lent, in one
command of at most ~8 minutes (--budget), with one JSON and a short table.

Parts, in this order, each in a process of its own with its own timeout, so that a hang, an
out-of-memory or a CUDA error in one leaves the others' figures (and its error text) in the JSON,
which is rewritten after every part:
  kernels          pytest tests/kernels -m gpu: every Triton kernel on CUDA against its torch
                   reference (the `device` = cuda variants and the model-shaped tests): counts, failures
  fixture          a tiny Dream-format checkpoint -> Engine.load(dir, device="cuda") + infills
  step:dream-7b    the Runner's cached gap step (gap 32, contexts 1024 and 4096) at Dream-7B and
  step:qwen2-0.5b  Qwen2.5-0.5B shapes with random bf16 weights built on the GPU: eager; its gap
                   forward + head under a CUDA graph and (0.5B) torch.compile; vs the read bytes /
                   a measured copy bandwidth (runtime/bench_gpu_parts.py)
--cpu-smoke runs the same parts on the CPU with tiny shapes (seconds): what tests/runtime checks.
Exit status 0 when every part finished without an error, else 1 (the JSON is written either way).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime
from importlib import metadata
from pathlib import Path
from xml.etree import ElementTree

ROOT = Path(__file__).resolve().parents[1]
PARTS = {"kernels": 130, "fixture": 80, "step:dream-7b": 120, "step:qwen2-0.5b": 150}  # timeout s, run order
COMPILE = ("qwen2-0.5b",)  # torch.compile of a 28-layer 7B graph costs minutes of the budget
PASSIVE = {"OMP_WAIT_POLICY": "PASSIVE"}  # as seed_lsp/cli.py: spinning OpenMP threads make busy-CPU timings noise


def run_child(cmd: list[str], timeout: float) -> dict:
    """Run cmd in its own process group; on timeout kill that group. Tails of its output kept."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True, env=PASSIVE | os.environ | {"PYTHONUNBUFFERED": "1"})
    try:
        out, _ = proc.communicate(timeout=timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        timed_out = True
    return {"rc": proc.returncode, "timed_out": timed_out, "wall_s": round(time.perf_counter() - t0, 1),
            "output": out or ""}


def kernels_part(timeout: float, tmp: Path) -> dict:
    junit = tmp / "kernels.xml"
    cmd = [sys.executable, "-m", "pytest", "tests/kernels", "-m", "gpu", "-v", "-p", "no:cacheprovider",
           f"--junitxml={junit}"]
    if not (ROOT / "tests" / "kernels").is_dir():
        return {"status": "error", "error": f"{ROOT / 'tests' / 'kernels'} is missing (run from a checkout)"}
    run = run_child(cmd, timeout)
    res = {"command": " ".join(cmd[1:-1]), "wall_s": run["wall_s"], "rc": run["rc"]}
    if junit.is_file():
        suites = list(ElementTree.parse(junit).getroot().iter("testsuite"))
        n = {k: sum(int(s.get(k, 0)) for s in suites) for k in ("tests", "failures", "errors", "skipped")}
        res |= {"passed": n["tests"] - n["failures"] - n["errors"] - n["skipped"], "failed": n["failures"],
                "errors": n["errors"], "skipped": n["skipped"]}
        res["failures"] = [f"{c.get('classname')}::{c.get('name')}" for s in suites for c in s.iter("testcase")
                           if c.find("failure") is not None or c.find("error") is not None][:40]
    else:  # killed: count what the verbose output got to
        res |= {w.lower(): run["output"].count(f" {w}") for w in ("PASSED", "FAILED", "SKIPPED")}
    if run["timed_out"]:
        res |= {"status": "timeout", "error": f"timed out after {timeout:.0f} s\n{run['output'][-2000:]}"}
    elif run["rc"] == 0:
        res["status"] = "ok"
    else:
        res |= {"status": "failed" if run["rc"] == 1 else "error", "error": run["output"][-3000:]}
    return res


def model_part(name: str, timeout: float, tmp: Path, smoke: bool) -> dict:
    kind, _, shape = name.partition(":")
    out = tmp / f"{name.replace(':', '-')}.json"
    cmd = [sys.executable, "-m", "runtime.bench_gpu_parts", kind, shape or "-", str(out)]
    cmd += ["--smoke"] * smoke + ["--compile"] * (shape in COMPILE)
    run = run_child(cmd, timeout)
    res = json.loads(out.read_text()) if out.is_file() else {}
    res |= {"wall_s": run["wall_s"], "rc": run["rc"]}
    if run["timed_out"]:
        res |= {"status": "timeout", "error": f"timed out after {timeout:.0f} s in stage {res.get('stage')!r}"}
    elif run["rc"] != 0 or res.get("stage") != "done":
        res |= {"status": "error", "error": f"exit {run['rc']} in stage {res.get('stage')!r}\n{run['output'][-3000:]}"}
    else:
        res["status"] = "error" if res["errors"] else "ok"
        if res["errors"]:
            res["error"] = "; ".join(f"{k}: {v.splitlines()[0]}" for k, v in res["errors"].items())
    return res


def header(smoke: bool) -> dict:
    import torch

    def version(*names):
        for n in names:
            try:
                return metadata.version(n)
            except metadata.PackageNotFoundError:
                pass
        return None

    try:  # a copied working tree may have no .git, a bare machine no git
        git = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout
    except OSError:
        git = ""
    out = {"bench": "gpu", "smoke": smoke, "date": datetime.now().astimezone().isoformat(timespec="seconds"),
           "git": git.strip() or None, "python": platform.python_version(), "torch": torch.__version__,
           "triton": version("triton", "pytorch-triton"), "cuda": torch.version.cuda, "host_cpus": os.cpu_count()}
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        out["cudnn"] = torch.backends.cudnn.version()
        out["device"] = {"name": p.name, "memory_gib": round(p.total_memory / 2**30, 1), "sms": p.multi_processor_count,
                         "capability": f"{p.major}.{p.minor}", "count": torch.cuda.device_count()}
    else:
        out["device"] = {"name": platform.processor() or platform.machine(), "type": "cpu"}
    return out


def table(res: dict) -> str:
    lines = [f"{res['device']['name']}  torch {res['torch']}  triton {res['triton']}  cuda {res['cuda']}  {res['date']}",
             f"{'part':<16} {'status':<8} {'wall s':>7}  note"]
    for name, p in res["parts"].items():
        note = (p.get("error") or "").splitlines()[0][:70] if p.get("error") else ""
        if name == "kernels" and "passed" in p:
            note = f"passed {p['passed']}, failed {p.get('failed')}, skipped {p.get('skipped')}  {note}"
        if name == "fixture" and p.get("loads"):
            first = next(iter(p["loads"].values()))
            ms = [round(i["ms"]) for i in first.get("infills", [])]
            note = f"load {first['load_ms']:.0f} ms, infills {ms} ms: {first['infills'][0]['text'][:24]!r}" if ms else note
        statuses = [p.get("kernels", {})] + [load.get("kernels", {}) for load in p.get("loads", {}).values()]
        fallbacks = sorted({op for st in statuses for op in st.get("fallbacks", {})})
        note += f"  KERNEL FELL BACK: {fallbacks}" if fallbacks else ""  # auto mode hid a kernel failure
        lines.append(f"{name:<16} {p.get('status', '?'):<8} {p.get('wall_s', 0):>7.1f}  {note}")
    lines.append(f"{'shape':<12} {'context':>7} {'step ms':>8} {'fwd ms':>8} {'graph ms':>9} {'roof ms':>8} "
                 f"{'x roof':>7}  (fwd = the gap-only forward + fused head alone; x roof of the graph, else eager)")
    for name, p in res["parts"].items():
        for r in p.get("rows", []) if name.startswith("step:") else []:
            best = r.get("x_roofline_fwd_graph", r.get("x_roofline_fwd_eager"))
            cells = [r.get(k) for k in ("step_ms", "fwd_eager_ms", "fwd_graph_ms", "roofline_ms")] + [best]
            lines.append(f"{p.get('shape', name):<12} {r['context']:>7} " + " ".join(
                f"{c:>{w}.3f}" if isinstance(c, float) else f"{'-':>{w}}" for c, w in zip(cells, (8, 8, 9, 8, 7))))
        if p.get("compile"):
            c = p["compile"]
            lines.append(f"{p['shape']} compiled ({c.get('mode') or c.get('backend')}, kernels {c['kernels']}) at "
                         f"{c['context']}: {c['fwd_compiled_ms']:.3f} ms, first call {c['first_call_s']:.1f} s, "
                         f"graph breaks {c['graph_breaks']}")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="seed-lsp bench gpu", description=__doc__.split("\n")[0])
    p.add_argument("--out", default=f"bench/gpu-{date.today().isoformat()}.json")
    p.add_argument("--cpu-smoke", action="store_true", help="the same parts on the CPU with tiny shapes")
    p.add_argument("--budget", type=float, default=480, help="seconds for all parts together")
    p.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated subset of {','.join(PARTS)}")
    a = p.parse_args(argv)
    if set(a.parts.split(",")) - set(PARTS):
        p.error(f"--parts: unknown {sorted(set(a.parts.split(',')) - set(PARTS))}; choose from {list(PARTS)}")
    import torch

    if not a.cpu_smoke and not torch.cuda.is_available():
        print("seed-lsp bench gpu: no CUDA device here; --cpu-smoke runs the same parts on the CPU", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    res = header(a.cpu_smoke) | {"budget_s": a.budget, "parts": {}}
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="seed-lsp-bench-gpu-") as tmp:
        for name in a.parts.split(","):
            left = a.budget - (time.perf_counter() - t0)
            timeout = min(PARTS[name], left)
            if left < 10:
                part = {"status": "skipped", "error": f"budget spent ({left:.0f} s left)"}
            elif name == "kernels":
                part = kernels_part(timeout, Path(tmp))
            else:
                part = model_part(name, timeout, Path(tmp), a.cpu_smoke)
            res["parts"][name] = part | {"timeout_s": round(timeout)}
            res["wall_s"] = round(time.perf_counter() - t0, 1)
            out.write_text(json.dumps(res, indent=1, default=str) + "\n")
            print(f"{name}: {part['status']} ({part.get('wall_s', 0):.0f} s)", file=sys.stderr, flush=True)
    print(table(res))
    print(f"wrote {out}")
    return 0 if all(p["status"] == "ok" for p in res["parts"].values()) else 1
