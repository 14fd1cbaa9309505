"""The HumanEval infilling harness: task cuts, the sandbox, scoring, and the CLI end to end.

The oracle (canonical middles) must score 100 %: that proves the cuts, the program assembly and
the sandbox together. The empty baseline must score below it. A tiny random model runs end to end.
"""
from __future__ import annotations

import json
import time

import pytest

from runtime.eval.cli import main
from runtime.eval.sandbox import run_program
from runtime.eval.score import Completion, failure_modes, is_exact, is_stutter, score
from runtime.eval.tasks import SPLITS, build_tasks, load_problems, subset

EXPECTED = {"single-line": 1033, "multi-line": 5815, "random-span": 1640}


@pytest.fixture(scope="module")
def problems():
    return load_problems()


@pytest.mark.parametrize("split", SPLITS)
def test_every_task_reconstructs_its_program(problems, split):
    tasks = build_tasks(split, problems=problems)
    assert len(tasks) == EXPECTED[split]
    assert len({t.task_id for t in tasks}) == len(tasks)
    assert {t.problem.task_id for t in tasks} == {p.task_id for p in problems}
    for t in tasks:
        assert t.prefix + t.middle + t.suffix == t.problem.prompt + t.problem.solution, t.task_id
        assert t.middle.strip(), t.task_id
        assert t.prefix.startswith(t.problem.prompt)
        if split != "random-span":  # line cuts: the middle is whole lines, its newline opens the suffix
            assert t.prefix.endswith("\n") and t.suffix.startswith("\n") and not t.middle.endswith("\n")
        if split == "single-line":
            assert "\n" not in t.middle


def test_random_spans_are_seeded_and_independent_of_other_problems(problems):
    a = build_tasks("random-span", seed=0, problems=problems)
    assert [(t.prefix, t.middle) for t in a] == [(t.prefix, t.middle) for t in build_tasks("random-span", seed=0, problems=problems)]
    assert [t.middle for t in a] != [t.middle for t in build_tasks("random-span", seed=1, problems=problems)]
    alone = build_tasks("random-span", seed=0, problems=problems[7:8])
    assert [t.middle for t in alone] == [t.middle for t in a if t.problem.task_id == "HumanEval/7"]


def test_limit_spreads_over_problems(problems):
    tasks = build_tasks("single-line", problems=problems)
    some = subset(tasks, 40)
    assert len(some) == 40 and len({t.task_id for t in some}) == 40
    assert len({t.problem.task_id for t in some}) >= 35
    assert subset(tasks, None) == tasks and subset(tasks, 5000) == tasks


def test_exact_match_forgives_surrounding_whitespace_only(problems):
    task = build_tasks("single-line", problems=problems[:1])[0]  # "    for idx, elem in enumerate(numbers):"
    assert is_exact(task, task.middle.strip() + "  ")
    assert not is_exact(task, task.middle.replace(", ", ","))


def test_failure_modes(problems):
    task = build_tasks("single-line", problems=problems[:1])[1]  # the nested for line
    assert failure_modes(task, "") == ["empty"]
    assert failure_modes(task, "   \t") == ["whitespace_only"]
    next_line = task.suffix.strip().splitlines()[0]
    assert "repeats_suffix" in failure_modes(task, "        " + next_line)
    assert "repeats_prefix" in failure_modes(task, task.prefix.rstrip().splitlines()[-1])
    assert failure_modes(task, task.middle) == []
    assert is_stutter("))))))") and is_stutter("x = x = x =") and not is_stutter("return x")


def test_sandbox_kills_an_infinite_loop_by_timeout():
    start = time.perf_counter()
    out = run_program("while True:\n    pass\n", timeout_s=1.0)
    assert not out.passed and out.reason == "timeout"
    assert time.perf_counter() - start < 10
    assert run_program("assert sum(range(4)) == 6\n").passed  # the parent survives and goes on


def test_sandbox_stops_a_memory_hog():
    out = run_program("chunks = []\nwhile True:\n    chunks.append(bytearray(50_000_000))\n", timeout_s=20, memory_mb=400)
    assert not out.passed
    assert out.reason.startswith("MemoryError") or out.reason.startswith("signal"), out.reason
    assert run_program("print('still here')\n").passed


def test_sandbox_reports_failures_and_blocks_escapes():
    assert run_program("assert 1 == 2, 'nope'\n").reason == "AssertionError: nope"
    assert not run_program("import os\nos._exit(0)\n").passed  # exiting early never counts as passing
    assert not run_program("import sys\nsys.exit(0)\n").passed
    net = run_program("import socket\nsocket.create_connection(('127.0.0.1', 9))\n")
    assert not net.passed and "blocked" in net.reason
    assert "blocked" in run_program("import subprocess\nsubprocess.run(['true'])\n").reason
    flood = run_program("while True:\n    print('x' * 10000)\n", timeout_s=5)
    assert not flood.passed  # the file-size limit (or the timeout) ends it; the parent never buffers it


def test_score_runs_the_problem_tests(problems):
    task = build_tasks("single-line", problems=problems[:1])[-1]  # "    return False"
    assert score(task, Completion(task.middle)).passed
    assert not score(task, Completion("    return True")).passed


def run_cli(tmp_path, *args):
    out_json, out_jsonl = tmp_path / "summary.json", tmp_path / "tasks.jsonl"
    rc = main(["humaneval", *args, "--json", str(out_json), "--jsonl", str(out_jsonl), "--quiet"])
    summary = json.loads(out_json.read_text())
    records = [json.loads(line) for line in out_jsonl.read_text().splitlines()]
    return rc, summary, records


def test_oracle_scores_100_percent(tmp_path):
    rc, summary, records = run_cli(tmp_path, "--split", "single-line", "--oracle", "--limit", "40", "--workers", "2")
    assert rc == 0
    assert summary["n"] == 40 and summary["pass@1"] == 100.0 and summary["exact"] == 100.0
    assert len(records) == 40 and all(r["passed"] and r["exact"] for r in records)


@pytest.mark.parametrize("split", ["multi-line", "random-span"])
def test_oracle_scores_100_percent_on_block_splits(tmp_path, split):
    rc, summary, _ = run_cli(tmp_path, "--split", split, "--oracle", "--limit", "12")
    assert rc == 0 and summary["pass@1"] == 100.0 and summary["exact"] == 100.0


def test_empty_scores_below_the_oracle(tmp_path):
    rc, summary, records = run_cli(tmp_path, "--split", "single-line", "--empty", "--limit", "40", "--timeout", "2")
    assert rc == 0
    assert summary["pass@1"] < 100.0 and summary["exact"] == 0.0
    assert summary["empty"] == 40 and summary["failure_modes"]["empty"] == 40
    assert all(r["completion"] == "" and not r["exact"] for r in records)


def test_model_eval_runs_end_to_end(tmp_path, tiny_model_dir):
    rc, summary, records = run_cli(tmp_path, "--split", "single-line", "--model", str(tiny_model_dir),
                                   "--limit", "3", "--max-tokens", "16", "--threshold", "0.7")
    assert rc == 0
    assert summary["n"] == 3 and summary["source"] == "model" and summary["strategy"] == "threshold"
    assert summary["params"] == {"tau": 0.7}
    for key in ("pass@1", "exact", "tokens_per_step", "mean_latency_ms", "empty", "whitespace_only", "failure_modes"):
        assert key in summary
    assert len(records) == 3
    for r in records:
        assert set(r) >= {"task_id", "split", "completion", "passed", "exact", "tokens", "steps", "ms"}
        assert "\n" not in r["completion"]  # line mode
        assert 0 < r["steps"] and r["tokens"] <= 16


def test_bad_strategy_options_fail_cleanly(tiny_model_dir):
    assert main(["humaneval", "--model", str(tiny_model_dir), "--strategy", "nope", "--limit", "1", "--quiet"]) == 2
    with pytest.raises(SystemExit):
        main(["humaneval", "--strategy", "one", "--threshold", "0.5"])
