"""`seed-lsp eval humaneval`: HumanEval infilling pass@1 and exact match of a model (or a baseline).

    seed-lsp eval humaneval --split single-line|multi-line|random-span [--model DIR]
        [--strategy NAME] [--threshold X] [--path cached|exact] [--limit N] [--json OUT] [--jsonl OUT]
        [--oracle | --empty] [--seed S] [--workers K]

--oracle fills every gap with its canonical middle (must score 100 %: proves the harness; the exit
status is 1 otherwise); --empty fills it with "" (the floor a model must beat). Without either, the
model at --model (default: the embedded model) fills it. Prints the summary; --json writes it (with
the device and dtype the model ran in), --jsonl writes one record per task (with the confidence
figure the server compares with its floor). `seed-lsp eval floor --from RECORDS.jsonl` turns such
records into the confidence floor's coverage/precision curve (runtime/eval/floor.py). See docs/eval.md.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from runtime.eval.runner import EngineSource, empty, oracle, run_eval
from runtime.eval.score import summarize
from runtime.eval.tasks import SPLITS, build_tasks, subset


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="seed-lsp eval", description="evaluate infilling on HumanEval")
    ap.add_argument("benchmark", choices=["humaneval"])
    ap.add_argument("--split", choices=SPLITS, default="single-line")
    ap.add_argument("--model", default=None, help="checkpoint directory (default: the embedded model)")
    ap.add_argument("--strategy", default="auto",
                    help="decoding strategy: auto (the model's own choice), one, threshold, factor, margin, entropy, ltr")
    ap.add_argument("--threshold", type=float, default=None, help="tau of the threshold / ltr strategy (default 0.9)")
    ap.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                    help="another strategy parameter (e.g. temperature=0.2, k=2); repeatable")
    ap.add_argument("--path", choices=("cached", "exact"), default="cached",
                    help="engine path: cached (dual cache, the default) or exact (full forward each step; "
                         "with --strategy one it is the reference loop)")
    ap.add_argument("--max-tokens", type=int, default=None, help="gap budget (default 64 line, 256 block)")
    ap.add_argument("--limit", type=int, default=None, help="N tasks spread evenly over the split")
    ap.add_argument("--json", default=None, metavar="OUT", help="write the summary JSON here")
    ap.add_argument("--jsonl", default=None, metavar="OUT", help="write one JSON record per task here")
    base = ap.add_mutually_exclusive_group()
    base.add_argument("--oracle", action="store_true", help="use the canonical middles (must score 100%%)")
    base.add_argument("--empty", action="store_true", help="use empty completions (the baseline)")
    ap.add_argument("--seed", type=int, default=0, help="random-span seed")
    ap.add_argument("--workers", type=int, default=2, help="parallel test processes")
    ap.add_argument("--timeout", type=float, default=5.0, help="seconds per test run")
    ap.add_argument("--memory-mb", type=int, default=1024, help="address-space limit per test run")
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    return ap


def format_summary(s: dict[str, Any]) -> str:
    fm = s["failure_modes"]
    return "\n".join([
        f"humaneval {s['split']}  source={s['source']}  model={s['model']}  strategy={s['strategy']}",
        f"  n={s['n']}  pass@1={s['pass@1']:.2f}%  exact={s['exact']:.2f}%",
        f"  tokens/step={s['tokens_per_step']}  mean tokens={s['mean_tokens']}  mean steps={s['mean_steps']}"
        f"  mean latency={s['mean_latency_ms']} ms  wall={s['wall_s']} s",
        f"  failure modes: empty={fm['empty']}  whitespace-only={fm['whitespace_only']}"
        f"  repeats-suffix={fm['repeats_suffix']}  repeats-prefix={fm['repeats_prefix']}  stutter={fm['stutter']}"
        f"  timeouts={s['timeouts']}",
    ])


def _number(text: str) -> int | float | str:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def strategy_params(args: argparse.Namespace, ap: argparse.ArgumentParser) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for item in args.param:
        key, sep, value = item.partition("=")
        if not sep or not key:
            ap.error(f"--param wants KEY=VALUE, got {item!r}")
        params[key] = _number(value)
    if args.threshold is not None:
        if args.strategy not in ("threshold", "ltr", "auto"):
            ap.error(f"--threshold is the tau of --strategy threshold or ltr, not {args.strategy!r}")
        params["tau"] = args.threshold
    return params


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["floor"]:
        from runtime.eval.floor import main as floor_main

        return floor_main(argv[1:])
    ap = parser()
    args = ap.parse_args(argv)
    params = strategy_params(args, ap)
    tasks = subset(build_tasks(args.split, seed=args.seed), args.limit)
    engine_source = None
    if args.oracle:
        source, name = oracle, "oracle"
    elif args.empty:
        source, name = empty, "empty"
    else:
        budget = {"line": args.max_tokens or 64, "block": args.max_tokens or 256}
        try:
            source = engine_source = EngineSource(args.model, args.strategy, params, budget,
                                                  cached=args.path == "cached")
        except ValueError as exc:  # unknown strategy or parameter, unloadable checkpoint
            print(f"seed-lsp eval: {exc}", file=sys.stderr)
            return 2
        name = "model"
    start = time.perf_counter()
    try:
        records = run_eval(tasks, source, workers=args.workers, timeout_s=args.timeout,
                           memory_mb=args.memory_mb, jsonl=args.jsonl, progress=not args.quiet)
    finally:
        if engine_source is not None:
            engine_source.close()
    meta = {
        "benchmark": "humaneval", "split": args.split, "source": name,
        "model": engine_source.model_name if engine_source is not None else None,
        "strategy": engine_source.strategy if name == "model" else None,
        "params": params if name == "model" else {},
        "path": args.path if name == "model" else None,
        "device": engine_source.device if engine_source is not None else None,
        "dtype": engine_source.dtype if engine_source is not None else None,
        "limit": args.limit, "seed": args.seed, "workers": args.workers, "timeout_s": args.timeout,
        "wall_s": round(time.perf_counter() - start, 1),
    }
    summary = summarize(records, meta)
    print(format_summary(summary))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(summary, f, indent=2)
            f.write("\n")
    if args.oracle and (summary["passed"] != summary["n"] or summary["exact_matches"] != summary["n"]):
        failed = [r.task_id + ": " + r.result for r in records if not r.passed][:10]
        print("oracle did not score 100%: the harness is broken\n  " + "\n  ".join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
