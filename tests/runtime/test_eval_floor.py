"""`seed-lsp eval floor`: the confidence floor's coverage/precision curve and the choice of the default
(runtime/eval/floor.py), from per-task records as `seed-lsp eval humaneval --jsonl` writes them."""
from __future__ import annotations

import json

import pytest

from runtime.eval.cli import main
from runtime.eval.floor import analyse, choose, point, with_rules
from runtime.eval.tasks import build_tasks


def _records(n: int = 100) -> list[dict]:
    # confidence i/n; the confident fifth passes 3 of 4, the rest 1 of 20: unfiltered 19 / 100
    out = []
    for i in range(n):
        passed = (i % 4 != 0) if i >= 80 else (i % 20 == 0)
        out.append({"task_id": f"T/{i}", "split": "single-line", "completion": "x", "passed": passed,
                    "exact": passed and i % 2 == 1, "confidence": i / n, "rule": None})
    return out


def test_point_counts_what_is_shown_at_a_floor():
    recs = _records()
    p = point(recs, 0.8)  # confidence >= floor is shown (the server hides only what is under it)
    assert p["shown"] == 20 and p["coverage"] == 20.0
    assert p["pass@1_shown"] == 75.0 and p["exact_shown"] == 50.0
    assert p["passes_kept"] == round(100 * 15 / 19, 2)
    recs[95]["rule"] = "repeats_above"  # a rule hides it at every floor
    assert point(recs, 0.0)["shown"] == 99 and point(recs, 0.8)["shown"] == 19


def test_the_chosen_floor_is_the_lowest_that_reaches_the_target():
    a = analyse(_records(), target=3.0, min_shown=10)
    assert a["pass@1_all"] == 19.0
    c = a["chosen"]
    assert c["reached"] and c["pass@1_shown"] >= 57.0
    lower = [p for p in a["curve"] if p["floor"] < c["floor"] and p["shown"] >= 10]
    assert all(p["pass@1_shown"] < 57.0 for p in lower)


def test_without_a_floor_that_reaches_the_target_the_best_is_named():
    curve = [{"floor": 0.0, "shown": 100, "coverage": 100.0, "pass@1_shown": 5.0},
             {"floor": 0.5, "shown": 40, "coverage": 40.0, "pass@1_shown": 9.0},
             {"floor": 0.9, "shown": 3, "coverage": 3.0, "pass@1_shown": 100.0}]  # too few to count
    c = choose(curve, base=5.0, target=3.0, min_shown=20)
    assert c["floor"] == 0.5 and c["reached"] is False
    assert choose(curve, base=5.0, target=3.0, min_shown=500) is None


def test_server_rules_are_applied_to_the_tasks():
    tasks = build_tasks("single-line")[:40]
    t = next(t for t in tasks if t.prefix.rstrip("\n").rsplit("\n", 1)[-1].strip() and
             t.prefix.rstrip("\n").rsplit("\n", 1)[-1].strip() != t.middle.strip())
    above = t.prefix.rstrip("\n").rsplit("\n", 1)[-1]
    recs = [{"task_id": t.task_id, "split": t.split, "completion": c, "passed": False, "exact": False,
             "confidence": 0.9} for c in (t.middle, above, "   ")]
    rules = [r["rule"] for r in with_rules(recs)]
    assert rules[1] in ("repeats_above", None) and rules[0] is None and rules[2] == "blank"
    if not above.strip().endswith(":") and len(above.split()) > 1:
        assert rules[1] == "repeats_above"


def test_cli_writes_the_curve_and_the_plot(tmp_path, capsys):
    tasks = build_tasks("single-line")[:30]
    path = tmp_path / "records.jsonl"
    with open(path, "w") as f:
        for i, t in enumerate(tasks):  # the oracle's middles; a third confident and passing
            f.write(json.dumps({"task_id": t.task_id, "split": t.split, "completion": t.middle, "passed": i % 3 == 0,
                                "exact": i % 3 == 0, "confidence": 0.7 if i % 3 == 0 else 0.3}) + "\n")
    out = tmp_path / "floor.json"
    argv = ["floor", "--from", str(path), "--min-shown", "5", "--json", str(out)]
    pytest.importorskip("matplotlib")
    argv += ["--plot", str(tmp_path / "floor.png")]
    assert main(argv) == 0
    data = json.loads(out.read_text())
    a = data["analyses"][0]
    assert a["pass@1_all"] == 33.33 and a["chosen"]["reached"] and data["floor"] == 0.31
    assert a["chosen"]["pass@1_shown"] == 100.0 and a["chosen"]["coverage"] == 33.33
    assert (tmp_path / "floor.png").stat().st_size > 1000
    assert "0.31 (lowest at target)" in capsys.readouterr().out
