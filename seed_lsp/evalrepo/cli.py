"""`seed-lsp eval repo`: does the workspace context help? Cross-file lines of a real project.

    seed-lsp eval repo --project DIR [--files GLOB]... [--limit N] [--model DIR]
        [--json OUT] [--jsonl OUT] [--quiet] [--note TEXT]

Every task (evalrepo/tasks.py) runs in both arms, and the oracle control, (evalrepo/prompts.py) on
one engine, one job at a time. Scores per arm: exact (the line, whitespace-stripped), identifier hit (the completion uses
the cross-file name the line needs), non-empty, mean latency, mean prompt tokens; and what the
context offered: how often the preamble names the identifier at all, and within the part the
model's window keeps; the likelihood of the true line and identifier (evalrepo/likelihood.py).
Paired (plain vs workspace): how often the completions differ, and who alone got a hit.
--jsonl writes one record per task as it finishes; --json the summary. See docs/eval.md.
"""
from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from pathlib import Path

from seed_lsp.completer import workspace_budget
from seed_lsp.evalrepo.likelihood import line_likelihood
from seed_lsp.evalrepo.prompts import ARMS, Arms, default_options, model_view

PAIR = ("plain", "workspace")  # the comparison; "oracle" is a control
from seed_lsp.evalrepo.tasks import RepoTask, build_tasks


def mentions(text: str, name: str) -> bool:
    """`name` used as a name in `text` (not as the tail of `x.name` or of a longer word)."""
    return re.search(rf"(?<![\w.]){re.escape(name)}\b", text) is not None


def run_task(task: RepoTask, arms: Arms, engine) -> dict:
    row = {"file": task.rel, "line": task.line_no + 1, "name": task.name, "source": task.source,
           "kind": task.kind, "middle": task.middle}
    for arm, job in arms.jobs(task).items():
        view = model_view(engine, job)
        start = time.perf_counter()
        r = engine.submit(job).result()
        row[arm] = {
            "text": r.text, "ms": round((time.perf_counter() - start) * 1e3, 2), "tokens": r.tokens, "steps": r.steps,
            "stop_reason": r.stop_reason, "exact": r.text.strip() == task.middle.strip(),
            "identifier_hit": mentions(r.text, task.name), "nonempty": bool(r.text.strip()),
            "prompt_tokens": view["prompt_tokens"], "preamble_chars": len(job.preamble),
            "preamble_tokens": view["preamble_tokens"], "name_in_preamble": mentions(job.preamble, task.name),
            "name_seen": mentions(view["preamble_seen"], task.name),
            **line_likelihood(engine, job, task.middle, task.name),
        }
    return row


def _pct(rows: list[dict], test) -> float:
    return round(100.0 * sum(map(test, rows)) / len(rows), 2) if rows else 0.0


def _mean(rows: list[dict], arm: str, key: str) -> float:
    return round(statistics.fmean(r[arm][key] for r in rows), 2) if rows else 0.0


def summarize(rows: list[dict]) -> dict:
    arms = [a for a in ARMS if rows and a in rows[0]]
    out: dict = {}
    for arm in arms:
        out[arm] = {"n": len(rows), **{k: _pct(rows, lambda r, k=k: r[arm][k]) for k in
                                        ("exact", "identifier_hit", "nonempty", "name_in_preamble", "name_seen")},
                    **{f"mean_{k}": _mean(rows, arm, k) for k in
                       ("ms", "prompt_tokens", "preamble_chars", "preamble_tokens", "tokens", "steps")}}
    for arm in arms:
        named = [r for r in rows if r[arm]["name_nll"] is not None]
        out[arm].update(mean_nll=_mean(rows, arm, "nll"), mean_name_nll=_mean(named, arm, "name_nll"),
                        name_top1=_pct(rows, lambda r, a=arm: r[a]["name_top1"]))
    seen = [r for r in rows if r["workspace"]["name_seen"]]
    named = [r for r in rows if r["plain"]["name_nll"] is not None]
    out["paired"] = {
        "differ": _pct(rows, lambda r: r["plain"]["text"].strip() != r["workspace"]["text"].strip()),
        **{f"{k}_only_{arm}": sum(r[arm][k] and not r[other][k] for r in rows)
           for k in ("exact", "identifier_hit") for arm, other in (("plain", "workspace"), ("workspace", "plain"))},
        # the fairest view of "does it help": the tasks where the model could read the name
        "name_seen_n": len(seen),
        **{f"identifier_hit_when_seen_{arm}": _pct(seen, lambda r, a=arm: r[a]["identifier_hit"]) for arm in PAIR},
        # likelihood of the true identifier: does the context move probability toward it at all?
        "name_nll_lower_workspace": _pct(named, lambda r: r["workspace"]["name_nll"] < r["plain"]["name_nll"]),
        **{f"mean_name_nll_when_seen_{arm}": _mean([r for r in seen if r[arm]["name_nll"] is not None], arm, "name_nll")
           for arm in PAIR},
        **{f"name_top1_when_seen_{arm}": _pct(seen, lambda r, a=arm: r[a]["name_top1"]) for arm in PAIR},
    }
    return out


def run(tasks: list[RepoTask], root: Path, engine, progress: bool = True, jsonl: str | None = None) -> list[dict]:
    """Both arms on every task, in order; each record is appended to `jsonl` as it is scored."""
    from tqdm import tqdm

    arms = Arms(root, engine=engine)
    rows: list[dict] = []
    sink = open(jsonl, "w", encoding="utf-8") if jsonl else None
    try:
        engine.submit(arms.jobs(tasks[0])["plain"]).result()  # warm-up: allocator and threads, not timed
        for task in tqdm(tasks, desc="eval repo", unit="task", disable=not progress):
            rows.append(run_task(task, arms, engine))
            if sink:
                sink.write(json.dumps(rows[-1]) + "\n")
                sink.flush()
    finally:
        arms.close()
        if sink:
            sink.close()
    return rows


def examples(rows: list[dict], n: int = 5) -> list[dict]:
    """A few tasks where the arms wrote different lines (what the context changed), for the summary."""
    differ = [r for r in rows if r["plain"]["text"].strip() != r["workspace"]["text"].strip()]
    return [{"file": r["file"], "line": r["line"], "middle": r["middle"].strip(), "name": r["name"],
             "plain": r["plain"]["text"], "workspace": r["workspace"]["text"]} for r in differ[:n]]


def format_summary(s: dict) -> str:
    lines = [f"eval repo  project={s['project']}  files={' '.join(s['files'])}  model={s['model']}  "
             f"tasks={s['n']} of {s['tasks_found']}"]
    arms = [a for a in ARMS if a in s["summary"]]
    for arm in arms:
        a = s["summary"][arm]
        lines.append(f"  {arm:>9}: exact={a['exact']:.2f}%  identifier hit={a['identifier_hit']:.2f}%  "
                     f"non-empty={a['nonempty']:.2f}%  mean {a['mean_ms']:.0f} ms  prompt {a['mean_prompt_tokens']:.0f} tok  "
                     f"preamble {a['mean_preamble_chars']:.0f} chars / {a['mean_preamble_tokens']:.0f} tok kept  "
                     f"names it {a['name_in_preamble']:.0f}% (kept: {a['name_seen']:.0f}%)")
    p = s["summary"]["paired"]
    lines.append(f"  paired: differ={p['differ']:.1f}%  identifier hit only plain={p['identifier_hit_only_plain']} "
                 f"only workspace={p['identifier_hit_only_workspace']}  exact only plain={p['exact_only_plain']} "
                 f"only workspace={p['exact_only_workspace']}  when the kept preamble names it (n={p['name_seen_n']}): "
                 f"hit plain={p['identifier_hit_when_seen_plain']:.1f}% workspace={p['identifier_hit_when_seen_workspace']:.1f}%")
    lines.append("  likelihood of the true line (teacher-forced, all masked):\n    " + "\n    ".join(
        f"{arm:>9}: nll/token={s['summary'][arm]['mean_nll']:.2f} identifier nll={s['summary'][arm]['mean_name_nll']:.2f} "
        f"identifier top-1={s['summary'][arm]['name_top1']:.1f}%" for arm in arms))
    lines.append(f"    identifier nll lower with workspace: {p['name_nll_lower_workspace']:.1f}% of tasks;  when the kept "
                 f"preamble names it: nll plain={p['mean_name_nll_when_seen_plain']:.2f} "
                 f"workspace={p['mean_name_nll_when_seen_workspace']:.2f}, top-1 plain={p['name_top1_when_seen_plain']:.1f}% "
                 f"workspace={p['name_top1_when_seen_workspace']:.1f}%")
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="seed-lsp eval repo", description=__doc__.split("\n")[0])
    ap.add_argument("--project", required=True, type=Path, help="a multi-file Python project directory")
    ap.add_argument("--files", action="append", default=None, metavar="GLOB",
                    help="files that give tasks, a glob under the project (repeatable; default **/*.py)")
    ap.add_argument("--limit", type=int, default=None, help="N tasks spread evenly over the task set")
    ap.add_argument("--model", default=None, help="checkpoint directory (default: the embedded model)")
    ap.add_argument("--json", default=None, metavar="OUT", help="write the summary JSON here")
    ap.add_argument("--jsonl", default=None, metavar="OUT", help="write one JSON record per task here")
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    ap.add_argument("--note", default=None, help="free text kept in the summary (which snapshot, which checkpoint)")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from runtime import Engine
    from runtime.bench import header
    from runtime.eval.tasks import subset

    root, files = args.project.resolve(), args.files or ["**/*.py"]
    found = build_tasks(root, files)
    tasks = subset(found, args.limit)
    if not tasks:
        print(f"seed-lsp eval repo: no cross-file lines in {root} ({' '.join(files)})", file=sys.stderr)
        return 2
    start = time.perf_counter()
    engine = Engine.load(args.model)
    try:
        rows = run(tasks, root, engine, progress=not args.quiet, jsonl=args.jsonl)
        head = header(str(args.model or "embedded"), engine.model.device, engine.model.dtype)
        window = {"max_context": engine.options.max_context}
    finally:
        engine.close()
    o = default_options()
    result = {
        "benchmark": "repo", **head, "note": args.note, "project": str(root), "files": files, "tasks_found": len(found), "n": len(rows),
        "limit": args.limit, "kinds": {k: sum(r["kind"] == k for r in rows) for k in sorted({r["kind"] for r in rows})},
        "options": {"mode": o.mode, "strategy": o.strategy, "context_before": o.context_before,
                    "context_after": o.context_after, "workspace_budget_chars": workspace_budget(o, engine), **window},
        "wall_s": round(time.perf_counter() - start, 1), "summary": summarize(rows), "examples": examples(rows),
    }
    print(format_summary(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
