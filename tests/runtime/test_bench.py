"""The benches run end to end on the tiny test model and report what the README's tables are built
from: every path at every context, the reuse path starting from a carried cache (no full forward),
the reference doing one full forward per step, roofline figures, a plot; and the whole-infill bench's
arms with pass@1 and the edit arms reusing the document's cache."""
from __future__ import annotations

import json

from runtime import bench, bench_infill


def test_runtime_bench_paths_contexts_roofline_and_plot(tiny_model_dir, tmp_path):
    out, png = tmp_path / "b.json", tmp_path / "b.png"
    assert bench.main(["--model", str(tiny_model_dir), "--contexts", "24,48", "--gap", "6", "--steps", "3",
                       "--json", str(out), "--plot", str(png)]) == 0
    res = json.loads(out.read_text())
    rows = {(r["context"], r["path"]): r for r in res["rows"]}
    assert set(rows) == {(c, p) for c in (24, 48) for p in bench.PATHS}
    for c in (24, 48):
        assert rows[(c, "reference")]["full_forwards"] == rows[(c, "reference")]["steps"]
        assert rows[(c, "reuse")]["full_forwards"] == 0, "the reuse path starts from the carried cache"
        assert rows[(c, "cached")]["full_forwards"] == 1
        assert rows[(c, "reference")]["step_ms_ratio"] == 1.0
    assert all(r["roofline_ms"] > 0 and r["x_roofline"] > 0 for r in res["rows"])
    assert res["bandwidth_gbs"] > 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_edit_helpers_change_one_letter_on_the_chosen_line():
    text = "a = 1\nbeta = 2\n  gamma = 3\nz"
    out = bench_infill.edit_line(text, 1, from_end=True)
    assert out == "a = 1\nbeta = 2\n  famma = 3\nz"
    assert sum(x != y for x, y in zip(out, text)) == 1
    assert bench_infill.edit_line("1\n2", 0, from_end=False) is None, "no letter on that line"
    before = bench_infill.edited("x = 1\ny = 2\nz = 3\nw = 4\nv = 5\n    ", "\n", "above", seed=0)
    assert before is not None and before[1] == "\n" and before[0] != "x = 1\ny = 2\nz = 3\nw = 4\nv = 5\n    "


def test_infill_bench_arms(tiny_model_dir, tmp_path):
    out = tmp_path / "i.json"
    assert bench_infill.main(["--model", str(tiny_model_dir), "--limit", "3", "--session", "2", "--max-age", "1",
                             "--quiet", "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    s = res["summary"]
    assert {"reference", "exact", "default", "edit-above"} <= set(s)
    assert res["strategy"] == "threshold", "a model that names no strategy runs threshold by default"
    assert 0 <= s["default"]["same_text_as_exact"] <= 100
    assert s["reference"]["median_ratio_to_reference"] == 1.0
    for arm in ("edit-above", "edit-below"):
        if arm in s:
            assert s[arm]["reused"] == s[arm]["n"], "every edit request reused the document's cache"
            assert 0 <= s[arm]["same_text_as_cold"] <= 100
    assert len(res["rows"]) == 3 and all(0 <= s[a]["pass@1"] <= 100 for a in s)
    session = s["session"]
    assert session["requests"] >= 3 and 0 <= session["same_text_as_cold"] <= 100
    assert max(map(int, session["ages"])) <= 1, "no request started from a cache older than --max-age"
