"""Cross-file single-line tasks from a real multi-file Python project on disk.

    build_tasks(root, ["seed_lsp/**/*.py"]) -> list[RepoTask]     (sorted by file, then line)

A task is one line inside a function body that uses a name bound by an import of ANOTHER file of
the project: an imported function, class or constant (`from pkg.util import scale` ... `scale(x)`)
or an imported module whose attribute the line reads (`from seed_lsp import cli` ... `cli.main()`).
The middle is that line without its newline (like HumanEval's single-line split: line mode, the
newline opens the suffix); prefix + middle + suffix is the file exactly.

Names are found with ast, not text search: a name inside a string or a comment is no use, and an
alias (`import a.b as c`) binds `c`, not `b`. An import inside a function binds its name only in
that function. Imports are resolved with the workspace context's own resolver
(seed_lsp.workspace.imports.resolve), so a task's name is one the workspace context could find.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from seed_lsp.workspace.imports import Import, resolve
from seed_lsp.workspace.snippets import definition

FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)


@dataclass(frozen=True)
class RepoTask:
    path: Path  # absolute
    rel: str  # path under the project root
    line_no: int  # 0-based
    prefix: str
    middle: str
    suffix: str
    name: str  # the cross-file name the line uses (the leftmost one, as the line spells it)
    source: str  # the project file that name comes from (relative)
    kind: str  # function | class | constant | module | other (re-exported, or not found at top level)


@dataclass(frozen=True)
class Binding:
    target: Path  # the file the name comes from
    kind: str


def _kind(target: Path, name: str | None) -> str:
    if name is None:
        return "module"
    first = (definition(target.read_text(encoding="utf-8", errors="replace"), name) or "").lstrip()
    if first.startswith("@"):
        first = next((ln.lstrip() for ln in first.splitlines() if not ln.startswith("@")), "")
    if first.startswith(("def ", "async def ")):
        return "function"
    return "class" if first.startswith("class ") else "constant" if first else "other"


def bindings(nodes: list[ast.stmt], path: Path, root: Path) -> dict[str, Binding]:
    """Local name -> binding for the imports among `nodes` that resolve to another project file."""
    exists = Path.is_file
    out: dict[str, Binding] = {}
    for node in nodes:
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if alias.name == "*":
                    continue
                for target, wanted in resolve(Import(node.module or "", node.level, [alias.name]), path, [root], exists):
                    if target != path:
                        out[alias.asname or alias.name] = Binding(target, _kind(target, wanted[0] if wanted else None))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname is None and "." in alias.name:
                    continue  # `import a.b` binds `a`, which names a package, not the file: skipped
                for target, _ in resolve(Import(alias.name), path, [root], exists)[:1]:
                    if target != path:
                        out[alias.asname or alias.name] = Binding(target, "module")
    return out


def _shallow(nodes: list[ast.AST]):
    """Every node under `nodes`; a nested function is yielded but not entered (its own scope)."""
    stack = list(reversed(nodes))
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, FUNCTIONS):
            stack.extend(reversed(list(ast.iter_child_nodes(node))))


def _imports(nodes) -> list[ast.stmt]:
    return [n for n in nodes if isinstance(n, (ast.Import, ast.ImportFrom))]


def uses(tree: ast.Module, path: Path, root: Path) -> dict[int, tuple[int, str, Binding]]:
    """1-based line -> (column, name, binding) of the leftmost cross-file name used on that line
    inside a function body (a function's own imports join its enclosing scope's). Only ast.Name
    nodes count: a docstring, a string or a comment that spells the name is no task."""
    found: dict[int, tuple[int, str, Binding]] = {}

    def visit(fn, outer: dict[str, Binding]) -> None:
        own = list(_shallow(fn.body))
        local = {**outer, **bindings(_imports(own), path, root)}
        for node in own:
            if isinstance(node, ast.Name) and node.id in local:
                hit = (node.col_offset, node.id, local[node.id])
                if node.lineno not in found or hit[0] < found[node.lineno][0]:
                    found[node.lineno] = hit
            elif isinstance(node, FUNCTIONS) and node.body:
                visit(node, local)

    top = list(_shallow(tree.body))
    module = bindings(_imports(top), path, root)
    for node in top:
        if isinstance(node, FUNCTIONS) and node.body:
            visit(node, module)
    return found


def file_tasks(path: Path, root: Path) -> list[RepoTask]:
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return []
    lines = text.split("\n")
    rel = path.relative_to(root).as_posix()
    tasks = []
    for lineno, (_, name, b) in sorted(uses(tree, path, root).items()):
        i = lineno - 1
        stripped = lines[i].strip()
        if not stripped or stripped.startswith(("#", "import ", "from ")):
            continue
        tasks.append(RepoTask(path, rel, i, "\n".join(lines[:i]) + "\n", lines[i], "\n" + "\n".join(lines[i + 1:]),
                              name, b.target.relative_to(root).as_posix(), b.kind))
    return tasks


def build_tasks(root: Path, patterns: list[str] | tuple[str, ...] = ("**/*.py",)) -> list[RepoTask]:
    root = root.resolve()
    files = sorted({p.resolve() for pat in patterns for p in root.glob(pat) if p.is_file()})
    return [t for path in files for t in file_tasks(path, root)]
