"""`seed-lsp bench infill`: whole single-line infills on HumanEval tasks, every path on every task.

Arms (same model, greedy, run task by task in turn so that a noisy machine slows all of them alike):
  reference   exact path, one token per step: a full forward over the window at every step, LM head
              over every row (what a transformers forward computes); the step order is the default's
              (ltr with tau 1 for an ltr model, `one` for a threshold model), so it writes the same kind
              of fill
  exact       exact path, the model's default strategy (auto: ltr for the embedded model, else
              threshold), tau 0.9: the default's decoding without the cache (its quality check)
  default     cached path, the same strategy: what the server runs, cold
  edit-above  the default path after a one-character edit 2-6 lines above the cursor: the request
              before the edit leaves the document's cache and fill behind (runtime/reuse.py,
              runtime/draft.py), the timed request is the task's own text
  edit-below  the same with the edit 2-6 lines below the cursor
  session     a typing session that ends at the task's text: SESSION one-letter edits, alternately
              below and above the cursor, a request after each that starts from the one before it,
              so that the carried cache ages (runtime/reuse.py bounds that); every request of the
              session is compared with a cold request for the same text (timed, scored: the last)
Reported per arm: median and mean latency, the median per-task ratio to the reference, mean steps,
pass@1 and exact match (tests run in the eval sandbox); for the default, the share of completions
equal to the exact path's (what the cache costs in quality); for the edit arms and the session, the
share equal to the cold default's and their latency over the cold default's (the session: over all
its requests, with the age of the cache each one started from).
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
from tqdm import tqdm

from runtime.bench import header
from runtime.batch import run_carrying
from runtime.decoding import resolve
from runtime.infill import RunOptions
from runtime.jobs import CancelToken, InfillJob

ARMS = ("reference", "exact", "default", "edit-above", "edit-below", "session")
SESSION = 8  # edits in the session arm (--session): past RunOptions.reuse_max_age twice


def edit_line(text: str, k: int, from_end: bool) -> str | None:
    """`text` with one letter changed on its k-th line from the end (or the start); None if that
    line has no letter. The change swaps a letter for its neighbour in the alphabet."""
    lines = text.split("\n")
    idx = len(lines) - 1 - k if from_end else k
    if not 0 <= idx < len(lines):
        return None
    line = lines[idx]
    at = next((i for i, ch in enumerate(line) if ch.isalpha() and ch.isascii()), None)
    if at is None:
        return None
    ch = line[at]
    new = "b" if ch == "a" else "B" if ch == "A" else chr(ord(ch) - 1)
    lines[idx] = line[:at] + new + line[at + 1:]
    return "\n".join(lines)


def edited(prefix: str, suffix: str, where: str, seed: int) -> tuple[str, str] | None:
    """The text before the user's edit: one letter changed 2-6 lines above or below the cursor."""
    for k in [2 + (seed + i) % 5 for i in range(5)]:
        if where == "above":
            out = edit_line(prefix, k, from_end=True)
            if out is not None:
                return out, suffix
        else:
            out = edit_line(suffix, k, from_end=False)
            if out is not None:
                return prefix, out
    return None


class Arms:
    """Runs one task through every arm with run_carrying (the engine's loop, without its thread)."""

    def __init__(self, model, tokenizer, max_tokens: int = 64, tau: float = 0.9, session: int = SESSION,
                 max_age: int = RunOptions.reuse_max_age) -> None:
        self.model, self.tokenizer, self.max_tokens, self.tau = model, tokenizer, max_tokens, tau
        self.edits = session
        max_context = int(model.spec.defaults.get("max_context") or model.spec.window)
        self.exact = RunOptions(cached=False, max_context=max_context, head_all=True)
        self.exact_threshold = RunOptions(cached=False, max_context=max_context)
        self.cached = RunOptions(cached=True, max_context=max_context, reuse_max_age=max_age)
        self.strategy = resolve("auto", model.spec.defaults)  # what the server runs for this model

    def job(self, prefix: str, suffix: str, strategy: str) -> InfillJob:
        params = {"tau": self.tau} if strategy in ("threshold", "ltr") else {}
        return InfillJob(prefix=prefix, suffix=suffix, mode="line", max_tokens=self.max_tokens, strategy=strategy, params=params)

    def reference_job(self, prefix: str, suffix: str) -> InfillJob:
        """One token per step in the default's order: ltr at tau 1 (only the leftmost), else `one`."""
        if self.strategy == "ltr":
            return InfillJob(prefix=prefix, suffix=suffix, mode="line", max_tokens=self.max_tokens, strategy="ltr",
                             params={"tau": 1.0})
        return self.job(prefix, suffix, "one")

    @torch.inference_mode()
    def run(self, job: InfillJob, opts: RunOptions, carried=None):
        start = time.perf_counter()
        results, carry = run_carrying(self.model, self.tokenizer, [job], [CancelToken()], opts, carried)
        return results[0], (time.perf_counter() - start) * 1e3, carry

    def task(self, prefix: str, suffix: str, seed: int) -> dict:
        out = {}
        r, ms, _ = self.run(self.reference_job(prefix, suffix), self.exact)
        out["reference"] = (r, ms)
        r, ms, _ = self.run(self.job(prefix, suffix, self.strategy), self.exact_threshold)
        out["exact"] = (r, ms)
        r, ms, _ = self.run(self.job(prefix, suffix, self.strategy), self.cached)
        out["default"] = (r, ms)
        for where in ("above", "below"):
            before = edited(prefix, suffix, where, seed)
            if before is None:
                continue
            _, _, carry = self.run(self.job(*before, self.strategy), self.cached)
            r, ms, _ = self.run(self.job(prefix, suffix, self.strategy), self.cached, carry)
            out[f"edit-{where}"] = (r, ms)
        session = self.session(prefix, suffix, seed) if self.edits else None
        if session is not None:
            out["session"] = session
        return out

    def session(self, prefix: str, suffix: str, seed: int):
        """The session arm: -> the last request's result and ms, and per request whether it equals
        the cold answer, its ms over the cold request's, and the age of the cache it started from;
        None when the text has no line to edit."""
        texts = [(prefix, suffix)]
        for i in range(self.edits):  # walk back from the task's text
            before = edited(*texts[-1], "above" if i % 2 else "below", seed + i)
            if before is None:
                break
            texts.append(before)
        if len(texts) == 1:
            return None
        texts.reverse()
        _, _, carry = self.run(self.job(*texts[0], self.strategy), self.cached)
        log = {"same": [], "ratio": [], "age": []}
        for text in texts[1:]:
            age = carry.age + 1 if carry is not None else 0  # if the request reuses it
            r, ms, carry = self.run(self.job(*text, self.strategy), self.cached, carry)
            cold, cold_ms, _ = self.run(self.job(*text, self.strategy), self.cached)
            log["same"].append(r.text == cold.text)
            log["ratio"].append(ms / cold_ms)
            log["age"].append(age if r.timings.get("reused") else 0)
        return r, ms, log


def summarize(tasks, rows: list[dict], records: dict) -> dict:
    """Per-arm figures from the per-task rows and the scored records."""
    summary = {}
    for arm in ARMS:
        mine = [row for row in rows if arm in row["arms"]]
        if not mine:
            continue
        ms = [row["arms"][arm]["ms"] for row in mine]
        ratio = [row["arms"][arm]["ms"] / row["arms"]["reference"]["ms"] for row in mine]
        recs = records[arm]
        s = {"n": len(mine), "median_ms": statistics.median(ms), "mean_ms": statistics.fmean(ms),
             "median_ratio_to_reference": statistics.median(ratio),
             "mean_ms_ratio_to_reference": statistics.fmean(ms) / statistics.fmean(r["arms"]["reference"]["ms"] for r in mine),
             "mean_steps": statistics.fmean(row["arms"][arm]["steps"] for row in mine),
             "pass@1": 100.0 * sum(r.passed for r in recs) / len(recs), "exact": 100.0 * sum(r.exact for r in recs) / len(recs)}
        if arm == "default":
            s["same_text_as_exact"] = 100.0 * sum(row["arms"][arm]["text"] == row["arms"]["exact"]["text"] for row in mine) / len(mine)
        if arm == "session":
            logs = [row["arms"][arm]["session"] for row in mine]
            same = [x for log in logs for x in log["same"]]
            ages = [x for log in logs for x in log["age"]]
            s |= {"requests": len(same), "same_text_as_cold": 100.0 * sum(same) / len(same),
                  "median_ratio_to_cold": statistics.median(x for log in logs for x in log["ratio"]),
                  "ages": {str(a): ages.count(a) for a in sorted(set(ages))},
                  "same_by_age": {str(a): sum(x for x, g in zip(same, ages) if g == a) for a in sorted(set(ages))}}
        if arm.startswith("edit"):
            cold = [row["arms"]["default"] for row in mine]
            s["same_text_as_cold"] = 100.0 * sum(row["arms"][arm]["text"] == c["text"] for row, c in zip(mine, cold)) / len(mine)
            s["median_ratio_to_cold"] = statistics.median(row["arms"][arm]["ms"] / c["ms"] for row, c in zip(mine, cold))
            s["reused"] = sum(row["arms"][arm]["reused"] for row in mine)
            s["draft_tokens_kept"] = sum(row["arms"][arm]["draft_kept"] for row in mine)
            s["draft_tokens"] = sum(row["arms"][arm]["drafted"] for row in mine)
        summary[arm] = s
    return summary


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="seed-lsp bench infill", description=__doc__.split("\n")[0])
    p.add_argument("--model", help="checkpoint directory (default: the embedded model)")
    p.add_argument("--limit", type=int, default=100, help="single-line tasks spread over the split")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--session", type=int, default=SESSION, help="edits in the session arm (0: no session arm)")
    p.add_argument("--max-age", type=int, default=RunOptions.reuse_max_age,
                   help="RunOptions.reuse_max_age: jobs a carried cache may age before a full forward")
    p.add_argument("--device", default="auto")
    p.add_argument("--json", dest="json_out", help="write the results here")
    p.add_argument("--quiet", action="store_true")
    a = p.parse_args(argv)
    from runtime.embedded import embedded_model_dir
    from runtime.eval.runner import run_eval
    from runtime.eval.score import Completion
    from runtime.eval.tasks import build_tasks, subset
    from runtime.loader import load_model

    if a.threads:
        torch.set_num_threads(a.threads)
    model = load_model(a.model or embedded_model_dir(), device=a.device)
    arms = Arms(model, model.tokenizer, session=a.session, max_age=a.max_age)
    tasks = subset(build_tasks("single-line"), a.limit)
    rows = []
    for i, task in enumerate(tqdm(tasks, desc="infill", disable=a.quiet)):
        done = arms.task(task.prefix, task.suffix, seed=i)
        rows.append({"task_id": task.task_id, "arms": {
            arm: {"text": r.text, "ms": ms, "steps": r.steps, "tokens": r.tokens, "reused": r.timings.get("reused", 0.0),
                  "drafted": r.timings.get("drafted", 0.0), "draft_kept": r.timings.get("draft_kept", 0.0),
                  **({"session": extra[0]} if extra else {})}
            for arm, (r, ms, *extra) in done.items()}})
    records = {}
    for arm in ARMS:
        have = [(t, row["arms"][arm]) for t, row in zip(tasks, rows) if arm in row["arms"]]
        lookup = {t.task_id: Completion(x["text"], x["tokens"], x["steps"], x["ms"]) for t, x in have}
        records[arm] = run_eval([t for t, _ in have], lambda t: lookup[t.task_id], progress=False) if have else []
    summary = summarize(tasks, rows, records)
    out = header(str(getattr(model, "path", a.model)), model.device, model.dtype) | {
        "limit": a.limit, "session": a.session, "max_age": a.max_age, "strategy": arms.strategy, "tau": arms.tau, "summary": summary, "rows": rows}
    print(f"{'arm':>11} {'n':>4} {'median ms':>10} {'x ref':>7} {'steps':>6} {'pass@1':>7} {'exact':>6} {'vs cold':>8} {'same':>6}")
    for arm, s in summary.items():
        print(f"{arm:>11} {s['n']:>4} {s['median_ms']:>10.1f} {s['median_ratio_to_reference']:>7.3f} {s['mean_steps']:>6.2f} "
              f"{s['pass@1']:>6.1f}% {s['exact']:>5.1f}% {s.get('median_ratio_to_cold', float('nan')):>8.3f} "
              f"{s.get('same_text_as_cold', float('nan')):>5.1f}%")
    if "session" in summary:
        s = summary["session"]
        print(f"session: {s['requests']} requests; age of the cache each started from: requests {s['ages']}, "
              f"same as cold {s['same_by_age']}")
    if a.json_out:
        with open(a.json_out, "w") as f:
            json.dump(out, f, indent=1)
    return 0
