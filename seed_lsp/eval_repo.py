"""`seed-lsp eval repo`: does the workspace context help? Repository-level single-line infilling.

    seed-lsp eval repo --project DIR [--files GLOB] [--limit N] [--model DIR] [--json OUT] [--quiet]

Tasks come from a real multi-file Python project on disk: lines inside function bodies that use a
name the file imports from another file of the project (cross-file dependencies). Each line is the
middle of a single-line task (line mode; prefix = the file up to the line, suffix = from its
newline on), and the document the editor would hold is prefix + suffix. Two arms, same decoding:
  plain      prefix and suffix only (the server with workspaceContext off)
  workspace  plus the server's cross-file snippets as the job's preamble (seed_lsp/workspace,
             the budget the server computes from its default options)
Reported per arm: exact match (stripped), identifier hit (the completion contains the cross-file
name the line uses), non-empty rate, mean latency, mean preamble characters, and how often the
preamble names the line's cross-file name at all (the context had the answer's key ingredient).
"""
from __future__ import annotations

import argparse
import ast
import json
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from seed_lsp.workspace.imports import parse_imports


@dataclass(frozen=True)
class RepoTask:
    path: Path
    line_no: int  # 0-based
    prefix: str
    middle: str
    suffix: str
    name: str  # the cross-file name the middle uses


def imported_names(text: str, path: Path, root: Path) -> set[str]:
    """Names this file imports from modules that exist as files under root."""
    names = set()
    for imp in parse_imports(text):
        if not imp.names:
            continue
        if imp.level:
            base = path.parent
            for _ in range(imp.level - 1):
                base = base.parent
        else:
            base = root
        rel = Path(*imp.module.split(".")) if imp.module else Path()
        if (base / rel.with_suffix(".py")).is_file() or (base / rel / "__init__.py").is_file():
            names.update(imp.names)
    return names


def body_lines(text: str) -> set[int]:
    """0-based numbers of the lines inside function bodies (not their def lines)."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return set()
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            start = first.lineno - 1
            if isinstance(first, ast.Expr) and isinstance(getattr(first, "value", None), ast.Constant):
                start = first.end_lineno  # skip the docstring
            out.update(range(start, node.end_lineno))
    return out


def build_tasks(root: Path, pattern: str = "**/*.py") -> list[RepoTask]:
    tasks = []
    for path in sorted(root.glob(pattern)):
        text = path.read_text(encoding="utf-8", errors="replace")
        names = imported_names(text, path, root)
        if not names:
            continue
        lines = text.split("\n")
        inside = body_lines(text)
        for i, line in enumerate(lines):
            stripped = line.strip()
            if i not in inside or not stripped or stripped.startswith(("#", "import ", "from ")):
                continue
            used = [n for n in names if _uses(stripped, n)]
            if not used:
                continue
            prefix = "\n".join(lines[:i]) + "\n"
            suffix = "\n" + "\n".join(lines[i + 1:])
            tasks.append(RepoTask(path, i, prefix, line, suffix, used[0]))
    return tasks


def _uses(line: str, name: str) -> bool:
    import re

    return re.search(rf"(?<![\w.]){re.escape(name)}\b", line) is not None


def spread(tasks: list, limit: int | None) -> list:
    if not limit or limit >= len(tasks):
        return tasks
    step = len(tasks) / limit
    return [tasks[int(i * step)] for i in range(limit)]


def run(tasks: list[RepoTask], root: Path, engine, budget_chars: int, progress: bool = True) -> dict:
    """Both arms on every task; returns {"rows": [...], "summary": {arm: {...}}}."""
    from tqdm import tqdm

    from runtime.jobs import InfillJob
    from seed_lsp.workspace import WorkspaceContext

    ctx = WorkspaceContext([root], watch=False)
    rows = []
    try:
        for t in tqdm(tasks, desc="repo", disable=not progress):
            document = t.prefix + t.suffix
            preamble = ctx.snippets_for(t.path.resolve().as_uri(), document, budget_chars)
            row = {"file": str(t.path.relative_to(root)), "line": t.line_no + 1, "name": t.name, "middle": t.middle}
            for arm, pre in (("plain", ""), ("workspace", preamble)):
                start = time.perf_counter()
                r = engine.submit(InfillJob(prefix=t.prefix, suffix=t.suffix, mode="line", max_tokens=64,
                                            preamble=pre)).result()
                row[arm] = {"text": r.text, "ms": (time.perf_counter() - start) * 1e3, "preamble_chars": len(pre),
                            "name_in_preamble": _uses(pre, t.name)}
            rows.append(row)
    finally:
        ctx.close()
    summary = {}
    for arm in ("plain", "workspace"):
        n = max(len(rows), 1)
        summary[arm] = {
            "n": len(rows),
            "exact": 100.0 * sum(r[arm]["text"].strip() == r["middle"].strip() for r in rows) / n,
            "identifier_hit": 100.0 * sum(_uses(r[arm]["text"], r["name"]) for r in rows) / n,
            "nonempty": 100.0 * sum(bool(r[arm]["text"].strip()) for r in rows) / n,
            "mean_ms": statistics.fmean(r[arm]["ms"] for r in rows) if rows else 0.0,
            "mean_preamble_chars": statistics.fmean(r[arm]["preamble_chars"] for r in rows) if rows else 0.0,
            "name_in_preamble": 100.0 * sum(r[arm]["name_in_preamble"] for r in rows) / n,
        }
    return {"rows": rows, "summary": summary}


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="seed-lsp eval repo", description=__doc__.split("\n")[0])
    p.add_argument("--project", required=True, type=Path, help="a multi-file Python project directory")
    p.add_argument("--files", default="**/*.py", help="which files give tasks (glob under the project)")
    p.add_argument("--limit", type=int, default=None, help="N tasks spread evenly")
    p.add_argument("--model", default=None, help="checkpoint directory (default: the embedded model)")
    p.add_argument("--json", dest="json_out", default=None)
    p.add_argument("--quiet", action="store_true")
    a = p.parse_args(argv)
    from runtime import Engine
    from seed_lsp.completer import workspace_budget
    from seed_lsp.options import Options

    root = a.project.resolve()
    tasks = spread(build_tasks(root, a.files), a.limit)
    if not tasks:
        print(f"seed-lsp eval repo: no cross-file lines in {root} ({a.files})")
        return 2
    engine = Engine.load(a.model)
    try:
        result = run(tasks, root, engine, workspace_budget(Options()), progress=not a.quiet)
    finally:
        engine.close()
    result.update(project=str(root), files=a.files, model=str(a.model or "embedded"), date=time.strftime("%Y-%m-%d"))
    for arm, s in result["summary"].items():
        print(f"{arm:>10}  n={s['n']}  exact={s['exact']:.1f}%  identifier hit={s['identifier_hit']:.1f}%  "
              f"non-empty={s['nonempty']:.1f}%  mean {s['mean_ms']:.0f} ms  preamble {s['mean_preamble_chars']:.0f} chars "
              f"(names the identifier: {s['name_in_preamble']:.0f}%)")
    if a.json_out:
        Path(a.json_out).write_text(json.dumps(result, indent=1))
    return 0
