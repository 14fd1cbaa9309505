"""`seed-lsp eval floor`: what the server would show, from an eval's per-task records.

    seed-lsp eval floor --from RECORDS.jsonl [--from MORE.jsonl] [--target 3] [--min-shown 20]
        [--json OUT] [--plot OUT.png] [--seed S]

RECORDS.jsonl is what `seed-lsp eval humaneval --jsonl` writes (one record per task: completion,
passed, exact, confidence), or the same gzipped (RECORDS.jsonl.gz). Each record's task is rebuilt from its task_id, and the server's own
rules (seed_lsp.postprocess.hidden_reason, as the server calls it for a document whose text is the
task's prefix + suffix, cursor at the gap) decide what it would show. For each confidence floor
(the server's `confidenceFloor`: a completion whose mean token probability is under it is not
shown) the curve gives the coverage (tasks that get a suggestion) and the pass@1 and exact match
among the shown ones, next to the unfiltered pass@1 (every task's completion, as the eval scores
it). The chosen floor is the lowest one whose shown suggestions pass at least `target` times as
often as unfiltered ones, over at least `min_shown` shown tasks (too few make precision noise);
when no floor reaches it, the one with the best precision (same minimum) is named instead.
Also counted: the tasks each non-floor rule hides (repeats, mid-statement, ...) and their pass rate.

This command measures the server, so it reads seed_lsp.postprocess: the one import of seed_lsp
under runtime/, made here only, never by the engine.
"""
from __future__ import annotations

import argparse
import gzip
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

FINE = [i / 100 for i in range(101)]  # floors searched for the choice
TABLE = [0.0, 0.1, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]  # rows of the printed table


def load_records(path: str | Path) -> list[dict[str, Any]]:
    """One record per line; a name ending in .gz is read through gzip (bench/eval keeps them so)."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def server_rule(task, completion: str) -> str | None:
    """The server's non-floor rule that hides `completion` at this task's gap (None: shown)."""
    from seed_lsp.postprocess import hidden_reason  # see the module docstring

    mode = "line" if task.split == "single-line" else "block"
    line_prefix = task.prefix.rsplit("\n", 1)[-1]
    line_suffix = task.suffix.split("\n", 1)[0]
    return hidden_reason(completion, line_prefix, line_suffix, task.suffix, mode, 1.0, 0.0,
                         prefix=task.prefix, language="python")


def with_rules(records: list[dict[str, Any]], seed: int = 0) -> list[dict[str, Any]]:
    """Records with "rule": the non-floor rule that hides each one (None when shown)."""
    from runtime.eval.tasks import build_tasks

    splits = {r["split"] for r in records}
    tasks = {t.task_id: t for split in splits for t in build_tasks(split, seed=seed)}
    return [dict(r, rule=server_rule(tasks[r["task_id"]], r["completion"])) for r in records]


def _pct(k: int, n: int) -> float:
    return round(100 * k / n, 2) if n else 0.0


def point(records: list[dict[str, Any]], floor: float) -> dict[str, Any]:
    """Coverage and precision at one floor (records carry "rule", see with_rules)."""
    shown = [r for r in records if r["rule"] is None and r["confidence"] >= floor]
    passes = sum(r["passed"] for r in records)
    return {
        "floor": floor, "shown": len(shown), "coverage": _pct(len(shown), len(records)),
        "pass@1_shown": _pct(sum(r["passed"] for r in shown), len(shown)),
        "exact_shown": _pct(sum(r["exact"] for r in shown), len(shown)),
        "passes_kept": _pct(sum(r["passed"] for r in shown), passes),
    }


def choose(curve: list[dict[str, Any]], base: float, target: float, min_shown: int) -> dict[str, Any] | None:
    """The lowest floor whose shown pass@1 >= target * base (min_shown tasks shown at least); else
    the best precision over floors with min_shown; None when no floor shows min_shown tasks."""
    enough = [p for p in curve if p["shown"] >= min_shown]
    for p in enough:
        if p["pass@1_shown"] >= target * base:
            return dict(p, reached=True)
    if not enough:
        return None
    best = max(enough, key=lambda p: (p["pass@1_shown"], p["coverage"]))
    return dict(best, reached=False)


def rule_counts(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per non-floor rule (and "shown"): tasks, passes, exact matches, pass rate."""
    out: dict[str, dict[str, Any]] = {}
    for name in sorted(Counter(r["rule"] or "shown" for r in records)):
        rs = [r for r in records if (r["rule"] or "shown") == name]
        out[name] = {"n": len(rs), "passed": sum(r["passed"] for r in rs), "exact": sum(r["exact"] for r in rs),
                     "pass@1": _pct(sum(r["passed"] for r in rs), len(rs))}
    return out


def analyse(records: list[dict[str, Any]], target: float = 3.0, min_shown: int = 20) -> dict[str, Any]:
    n = len(records)
    base = _pct(sum(r["passed"] for r in records), n)
    curve = [point(records, f) for f in FINE]
    return {
        "split": sorted({r["split"] for r in records}), "n": n, "pass@1_all": base,
        "exact_all": _pct(sum(r["exact"] for r in records), n), "target": target, "min_shown": min_shown,
        "chosen": choose(curve, base, target, min_shown), "rules": rule_counts(records), "curve": curve,
    }


def format_table(a: dict[str, Any], floors: list[float] = TABLE) -> str:
    rows = [f"{'/'.join(a['split'])}: {a['n']} tasks, unfiltered pass@1 {a['pass@1_all']:.2f} %, exact {a['exact_all']:.2f} %",
            "| floor | shown | coverage | pass@1 shown | exact shown | passes kept |", "|---|---|---|---|---|---|"]
    picked = a["chosen"]["floor"] if a["chosen"] else None
    for f in sorted(set(floors) | ({picked} if picked is not None else set())):
        p = point_at(a, f)
        mark = (" (lowest at target)" if a["chosen"]["reached"] else " (best)") if f == picked else ""
        rows.append(f"| {f:.2f}{mark} | {p['shown']} | {p['coverage']:.1f} % | {p['pass@1_shown']:.1f} % "
                    f"| {p['exact_shown']:.1f} % | {p['passes_kept']:.0f} % |")
    rules = ", ".join(f"{k} {v['n']} (pass {v['pass@1']:.1f} %)" for k, v in a["rules"].items())
    rows.append(f"at floor 0, by rule: {rules}")
    c = a["chosen"]
    if c:
        verdict = "reaches" if c["reached"] else "does NOT reach"
        rows.append(f"chosen floor {c['floor']:.2f}: {verdict} {a['target']}x unfiltered "
                    f"({c['pass@1_shown']:.1f} % vs {a['pass@1_all']:.2f} %), coverage {c['coverage']:.1f} %")
    return "\n".join(rows)


def plot(analyses: list[dict[str, Any]], out: str | Path, floor: float | None = None) -> None:
    """Left: coverage and shown pass@1 / exact against the floor (first file); right: shown
    pass@1 against coverage for each file; the default floor marked. Precision is drawn only where
    at least min_shown tasks are shown (fewer make it noise)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def enough(a: dict[str, Any]) -> list[dict[str, Any]]:
        return [p for p in a["curve"] if p["shown"] >= a["min_shown"]]

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    a = analyses[0]
    left.plot([p["floor"] for p in a["curve"]], [p["coverage"] for p in a["curve"]],
              label="coverage (tasks shown)", color="tab:gray")
    xs = [p["floor"] for p in enough(a)]
    left.plot(xs, [p["pass@1_shown"] for p in enough(a)], label="pass@1 among shown", color="tab:blue")
    left.plot(xs, [p["exact_shown"] for p in enough(a)], label="exact among shown", color="tab:green", ls="--")
    left.axhline(a["pass@1_all"] * a["target"], color="tab:red", lw=0.8, ls=":",
                 label=f"{a['target']:g}x unfiltered pass@1 ({a['pass@1_all']:.2f} %)")
    if floor is not None:
        left.axvline(floor, color="black", lw=0.8, ls=":", label=f"default floor {floor:g}")
    left.set(xlabel="confidence floor", ylabel="%", ylim=(0, 100),
             title=f"{'/'.join(a['split'])}, {a['n']} tasks (precision where >= {a['min_shown']} shown)")
    left.legend(fontsize=7)
    for b in analyses:
        right.plot([p["coverage"] for p in enough(b)], [p["pass@1_shown"] for p in enough(b)],
                   marker=".", ms=3, label=f"{'/'.join(b['split'])} ({b['n']})")
        if floor is not None and point_at(b, floor)["shown"] >= b["min_shown"]:
            p = point_at(b, floor)
            right.scatter([p["coverage"]], [p["pass@1_shown"]], color="black", zorder=3, s=18)
    right.set(xlabel="coverage: tasks shown (%)", ylabel="pass@1 among shown (%)",
              title="precision vs coverage (dot: default floor)", xlim=(0, 100), ylim=(0, None))
    right.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def point_at(a: dict[str, Any], floor: float) -> dict[str, Any]:
    return min(a["curve"], key=lambda p: abs(p["floor"] - floor))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="seed-lsp eval floor", description="coverage/precision of the confidence floor")
    ap.add_argument("--from", dest="sources", action="append", required=True, metavar="JSONL",
                    help="per-task records of `seed-lsp eval humaneval --jsonl` (repeatable; the first picks the floor)")
    ap.add_argument("--target", type=float, default=3.0, help="shown pass@1 / unfiltered pass@1 to reach (default 3)")
    ap.add_argument("--min-shown", type=int, default=20, help="fewest shown tasks a floor may be chosen at")
    ap.add_argument("--floor", type=float, default=None, help="mark this floor in the plot (default: the chosen one)")
    ap.add_argument("--seed", type=int, default=0, help="random-span seed of the records")
    ap.add_argument("--json", default=None, metavar="OUT", help="write the curves and the choice here")
    ap.add_argument("--plot", default=None, metavar="PNG", help="draw the curves here")
    args = ap.parse_args(argv)
    analyses = []
    for src in args.sources:
        a = analyse(with_rules(load_records(src), args.seed), args.target, args.min_shown)
        a["source"] = str(src)
        analyses.append(a)
    chosen = analyses[0]["chosen"]
    floor = args.floor if args.floor is not None else (chosen["floor"] if chosen else None)
    for a in analyses:
        print(format_table(a, sorted(set(TABLE) | ({floor} if floor is not None else set()))))
        if floor is not None:
            p = point_at(a, floor)
            print(f"at floor {floor:g}: shown {p['shown']} ({p['coverage']:.1f} %), pass@1 {p['pass@1_shown']:.1f} %, "
                  f"exact {p['exact_shown']:.1f} %\n")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"floor": floor, "analyses": analyses}, f, indent=1)
            f.write("\n")
    if args.plot:
        plot(analyses, args.plot, floor)
    return 0


if __name__ == "__main__":
    sys.exit(main())
