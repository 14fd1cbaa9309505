"""`seed-lsp bench lsp`: the typing plan (cadence, pauses after words and at line ends, Enter as a
fresh indented line, faithful retyping), the tally of outcomes, the CPU thread policy of
latency-bound processes, and one short run against a real server with the tiny model."""
from __future__ import annotations

import asyncio
import concurrent.futures as cf
import time

import pytest
import torch
from pygls.exceptions import JsonRpcException

from seed_lsp import bench_lsp
from seed_lsp.bench_lsp import Key, Tally, python_file, typing_plan
from seed_lsp.engine_factory import latency_threads, load_local
from seed_lsp.server import RequestStats


def test_plan_pauses_after_words_and_at_line_ends_and_keeps_the_cadence_elsewhere():
    lines = ["def f(a, b):", "    return a  + b", ""]
    plan = typing_plan(lines, 1000, interval_ms=50, word_pause_ms=200, line_pause_ms=800, every=1)
    gaps = {(k.line, k.text, k.cursor): k.gap_ms for k in plan}
    assert gaps[(0, ":", 12)] == 800 and gaps[(1, "b", 17)] == 800  # each line's last character
    assert gaps[(0, " ", 9)] == 200  # "a, " ends a word
    assert gaps[(1, " ", 11)] == 200 and gaps[(1, " ", 14)] == 50  # "return a  +": the second space does not
    assert all(k.gap_ms == 50 for k in plan if not k.pause)
    assert [k.pause for k in plan] == [k.gap_ms > 50 for k in plan]


def test_plan_starts_each_line_like_enter_and_retypes_it_exactly():
    lines = python_file(60).split("\n")
    typed = list(lines)
    plan = typing_plan(lines, 10**6)
    starts = [k for k in plan if k.end > k.col]
    assert starts and all(k.text.strip() == "" for k in starts)  # the old line becomes its indentation
    assert all(not k.pause for k in starts), "the typist goes on at once after Enter"
    for k in plan:
        ln = typed[k.line]
        typed[k.line] = ln[:k.col] + k.text + ln[k.end:]
        assert k.cursor == k.col + len(k.text)
    assert typed == lines, "retyping the lines gives the file back"
    assert not any(k.text == " " and k.col < len(lines[k.line]) - len(lines[k.line].lstrip()) for k in plan), \
        "indentation is the editor's, never typed"
    assert len(typing_plan(lines, 7)) == 7


def _future(result=None, exc=None) -> cf.Future:
    fut: cf.Future = cf.Future()  # what Tally reads of an asyncio future, without a loop
    if exc is not None:
        fut.set_exception(exc)
    else:
        fut.set_result(result)
    return fut


def test_tally_counts_cancellations_and_keeps_paused_requests_apart():
    tally = Tally()
    key, paused = Key(0, 0, 0, "x", 1, 50, False), Key(0, 1, 1, " ", 2, 200, True)
    sent = time.perf_counter()

    class Items:
        items = [object()]

    tally.done(0, key, sent, _future(exc=JsonRpcException("superseded", -32800)))
    tally.done(1, key, sent, _future(exc=JsonRpcException("stale", -32801)))
    tally.done(2, key, sent, _future(exc=JsonRpcException("boom", -32603)))
    tally.done(3, key, sent, _future(result=Items()))
    tally.done(4, paused, sent, _future(result=None))
    tally.pauses = 1
    report = tally.report()
    assert {k: report[k] for k in ("answered", "items", "cancelled", "errors")} == \
           {"answered": 2, "items": 1, "cancelled": 2, "errors": 1}
    assert report["pauses"]["requests"] == 1 and report["pauses"]["answered"] == 1
    assert [s["request"] for s in report["slowest"]] == [4, 3]  # answered only, slowest first


def test_server_counts_every_finished_request():
    stats = RequestStats()
    for outcome in ("items", "cancelled", "stale", "empty"):
        stats.finish(outcome, time.perf_counter())
    assert stats.snapshot()["requests"] == 4


@pytest.mark.parametrize("env,cores,expected", [
    ({}, 2, 1), ({}, 16, 8), ({}, 1, 1),
    ({"SEED_LSP_THREADS": "3"}, 2, 3), ({"SEED_LSP_THREADS": "0"}, 2, 1),
    ({"OMP_NUM_THREADS": "4"}, 16, None),  # the user's OpenMP setting: torch has read it
    ({"SEED_LSP_THREADS": "x"}, 8, 4),  # not a number: ignored
])
def test_latency_threads(env, cores, expected):
    assert latency_threads(env, cores) == expected


def test_load_local_caps_threads_and_warms_up(tiny_model_dir, monkeypatch):
    before = torch.get_num_threads()
    monkeypatch.setenv("SEED_LSP_THREADS", "1")
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    engine = load_local(str(tiny_model_dir), "cpu")
    try:
        assert torch.get_num_threads() == 1
        assert engine.stats()["jobs"] == 0  # warmed up, counters clean
    finally:
        engine.close()
        torch.set_num_threads(before)


def test_bench_runs_against_the_real_server(tiny_model_dir):
    args = bench_lsp.parse_args(["--model", str(tiny_model_dir), "--device", "cpu", "--keystrokes", "16",
                                 "--interval-ms", "10", "--word-pause-ms", "30", "--line-pause-ms", "60",
                                 "--floor", "0"])
    report = asyncio.run(bench_lsp.run(args))
    assert report["requests"] == 16
    assert report["answered"] + report["cancelled"] + report["errors"] == 16 and report["errors"] == 0
    assert report["pauses"]["requests"] >= 1 and report["server_rss_mb"] > 0
    assert report["engine"]["jobs"] > 0 and report["server"]["requests"] > 0
