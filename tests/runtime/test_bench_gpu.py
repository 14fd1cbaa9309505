"""`seed-lsp bench gpu --cpu-smoke`: the script prepared for a lent GPU runs its parts on the CPU with
tiny shapes and writes one JSON in which every part ran (kernel tests counted, gap steps timed against
the roofline, a Dream-format fixture loaded and infilled) or recorded its error; a part that fails or
outlives its timeout leaves the others' figures. Runs on every machine (no GPU needed)."""
from __future__ import annotations

import json
import sys

from runtime import bench_gpu
from runtime.bench_gpu_parts import SMOKE_PLAN
from seed_lsp import bench_cli


def test_cpu_smoke_runs_every_part_and_writes_one_json(tmp_path, capsys):
    out = tmp_path / "gpu.json"
    assert bench_cli.main(["gpu", "--cpu-smoke", "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["bench"] == "gpu" and res["smoke"] is True
    assert {"date", "torch", "triton", "cuda", "python", "git", "device", "wall_s"} <= set(res)
    assert res["device"]["name"] and res["torch"]
    parts = res["parts"]
    assert list(parts) == list(bench_gpu.PARTS)
    for name, part in parts.items():
        assert part["status"] == "ok", (name, part.get("error"))
        assert part["timeout_s"] > 0 and part["wall_s"] > 0

    kernels = parts["kernels"]  # on CPU every gpu-marked parity test is collected and skips cleanly
    assert kernels["failed"] == kernels["errors"] == 0 and kernels["skipped"] > 0
    assert "-m gpu" in kernels["command"]

    for shape in ("dream-7b", "qwen2-0.5b"):
        step = parts[f"step:{shape}"]
        assert step["errors"] == {} and step["stage"] == "done"
        assert step["arch"]["tied_head"] == (shape == "qwen2-0.5b"), "the real shape's flags at tiny sizes"
        assert step["copy_gbs"] > 0
        assert [r["context"] for r in step["rows"]] == list(SMOKE_PLAN["contexts"])
        for r in step["rows"]:
            assert r["full_forwards"] == 1 and r["steps"] >= 2, "a prefill, then gap-only steps"
            assert r["gap_rows"] >= SMOKE_PLAN["gap"]
            assert r["step_ms"] > 0 and r["fwd_eager_ms"] > 0 and r["roofline_ms"] > 0
            assert r["x_roofline_fwd_eager"] == r["fwd_eager_ms"] / r["roofline_ms"]
            assert "fwd_graph_ms" not in r, "CUDA graphs only on CUDA"
    assert "compile" not in parts["step:dream-7b"]
    comp = parts["step:qwen2-0.5b"]["compile"]
    assert comp["backend"] == "eager" and comp["fwd_compiled_ms"] > 0 and comp["vs_eager"]["top1_same"] == 1.0

    fixture = parts["fixture"]
    assert "model.safetensors.index.json" in fixture["files"], "sharded like the real Dream checkpoints"
    assert set(fixture["loads"]) == {"cpu default dtype"}, "on CUDA also cuda float32 and cpu float32, to compare"
    for load in fixture["loads"].values():
        assert load["device"] == "cpu" and load["shifted"] is True
        assert len(load["infills"]) == 4 and all(isinstance(i["text"], str) and i["steps"] > 0 for i in load["infills"])
    table = capsys.readouterr().out
    assert "step:qwen2-0.5b" in table and "compiled" in table and f"wrote {out}" in table


def test_a_failing_or_hung_part_leaves_the_others(tmp_path, monkeypatch):
    monkeypatch.setattr(bench_gpu, "PARTS", {"step:no-such-shape": 60, "fixture": 120, "step:qwen2-0.5b": 1})
    out = tmp_path / "gpu.json"
    assert bench_gpu.main(["--cpu-smoke", "--out", str(out)]) == 1
    parts = json.loads(out.read_text())["parts"]
    assert parts["step:no-such-shape"]["status"] == "error"
    assert "no-such-shape" in parts["step:no-such-shape"]["error"], "the child's traceback is kept"
    assert parts["fixture"]["status"] == "ok" and parts["fixture"]["loads"]
    hung = parts["step:qwen2-0.5b"]
    assert hung["status"] == "timeout" and "timed out after 1 s" in hung["error"] and hung["wall_s"] < 30


def test_run_child_kills_its_process_group_on_timeout():
    run = bench_gpu.run_child([sys.executable, "-c", "import time; print('started', flush=True); time.sleep(60)"], 2)
    assert run["timed_out"] and run["wall_s"] < 30 and "started" in run["output"]
