"""Scoring: functional correctness, exact match, failure modes, and the summary of a run.

passed  the problem's tests pass on prefix + completion + suffix (run by runtime.eval.sandbox):
        program = prefix + completion + suffix + "\\n\\n" + test + "\\ncheck(<entry_point>)\\n".
exact   completion.strip() == middle.strip(): surrounding whitespace is forgiven (indentation the
        model wrote before the first token, a trailing newline), everything inside must be equal.
Failure modes (counted, never filtered):
  empty            completion == ""
  whitespace_only  completion != "" and completion.strip() == ""
  repeats_suffix   the completion's first non-blank line equals the suffix's first non-blank line
                   (the model duplicated the text after the gap)
  repeats_prefix   the completion's first non-blank line equals the prefix's last non-blank line
                   (the model repeated the line before the gap)
  stutter          the stripped completion (4+ chars) is one unit repeated 3+ times ("))))", "x = x = x =")
"""
from __future__ import annotations

import platform
import time
from dataclasses import asdict, dataclass
from typing import Any

from runtime.eval.sandbox import run_program
from runtime.eval.tasks import Task


FAILURE_MODES = ("empty", "whitespace_only", "repeats_suffix", "repeats_prefix", "stutter")


@dataclass
class Completion:
    """What a completion source produced for one task (tokens/steps are 0 without a model)."""

    text: str
    tokens: int = 0
    steps: int = 0
    ms: float = 0.0
    stop_reason: str = ""
    confidence: float = 0.0


@dataclass
class Record:
    """One line of the per-task JSONL."""

    task_id: str
    split: str
    completion: str
    passed: bool
    exact: bool
    tokens: int
    steps: int
    ms: float
    stop_reason: str
    confidence: float
    result: str
    test_ms: float
    failure_modes: list[str]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def program(task: Task, completion: str) -> str:
    p = task.problem
    return f"{task.prefix}{completion}{task.suffix}\n\n{p.test}\ncheck({p.entry_point})\n"


def is_exact(task: Task, completion: str) -> bool:
    return completion.strip() == task.middle.strip()


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def _last_line(text: str) -> str:
    return next((line.strip() for line in reversed(text.splitlines()) if line.strip()), "")


def is_stutter(text: str, min_repeats: int = 3) -> bool:
    """True when text (stripped, at least 4 characters) is one unit repeated min_repeats times or
    more (the last copy may lack its final character: "a = a = a =" is "a = " three times)."""
    s = text.strip()
    if len(s) < 4:
        return False
    for period in range(1, (len(s) + 1) // min_repeats + 1):
        if all(s[i] == s[i - period] for i in range(period, len(s))):
            return True
    return False


def failure_modes(task: Task, completion: str) -> list[str]:
    if completion == "":
        return ["empty"]
    if not completion.strip():
        return ["whitespace_only"]
    modes, first = [], _first_line(completion)
    if first == _first_line(task.suffix):
        modes.append("repeats_suffix")
    if first == _last_line(task.prefix):
        modes.append("repeats_prefix")
    if is_stutter(completion):
        modes.append("stutter")
    return modes


def score(task: Task, comp: Completion, timeout_s: float = 5.0, memory_mb: int = 1024) -> Record:
    """Run the tests on the filled program and build the task's record (blocking; thread-safe)."""
    outcome = run_program(program(task, comp.text), timeout_s=timeout_s, memory_mb=memory_mb)
    return Record(
        task.task_id, task.split, comp.text, outcome.passed, is_exact(task, comp.text), comp.tokens,
        comp.steps, round(comp.ms, 2), comp.stop_reason, round(comp.confidence, 4), outcome.reason,
        round(outcome.ms, 2), failure_modes(task, comp.text),
    )


def summarize(records: list[Record], meta: dict[str, Any]) -> dict[str, Any]:
    """The run's summary JSON: rates in percent, counts, means, failure modes, and `meta`
    (split, strategy, model, seed, ...) plus the machine and date."""
    n = len(records)
    tokens = sum(r.tokens for r in records)
    steps = sum(r.steps for r in records)
    modes = {m: 0 for m in FAILURE_MODES}
    for r in records:
        for m in r.failure_modes:
            modes[m] += 1
    pct = (lambda k: round(100.0 * k / n, 2) if n else 0.0)
    return {
        **meta,
        "n": n,
        "passed": sum(r.passed for r in records),
        "exact_matches": sum(r.exact for r in records),
        "pass@1": pct(sum(r.passed for r in records)),
        "exact": pct(sum(r.exact for r in records)),
        "mean_tokens": round(tokens / n, 2) if n else 0.0,
        "mean_steps": round(steps / n, 2) if n else 0.0,
        "tokens_per_step": round(tokens / steps, 3) if steps else 0.0,
        "mean_latency_ms": round(sum(r.ms for r in records) / n, 2) if n else 0.0,
        "empty": modes["empty"],
        "whitespace_only": modes["whitespace_only"],
        "failure_modes": modes,
        "timeouts": sum(r.result == "timeout" for r in records),
        "machine": f"{platform.machine()} {platform.processor() or platform.system()}, python {platform.python_version()}",
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
    }
