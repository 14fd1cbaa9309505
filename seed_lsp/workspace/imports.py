"""Python imports of a file, resolved to files of the workspace.

Line-based (regex), not ast: the file being edited rarely parses. Handles `import a.b [as c], d`,
`from a.b import x, y`, `from . import x`, `from ..pkg import (x, y)` on one or several lines.
Resolution looks for a/b.py or a/b/__init__.py under each workspace root, its src/ folder, and the
importing file's directory; `from pkg import mod` resolves to pkg/mod.py when that is a module.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

_IMPORT = re.compile(r"^\s*import\s+([\w.]+(?:\s+as\s+\w+)?(?:\s*,\s*[\w.]+(?:\s+as\s+\w+)?)*)", re.M)
_FROM = re.compile(r"^\s*from\s+(\.*)([\w.]*)\s+import\s+(\([^)]*\)?|[^\n#]+)", re.M)


@dataclass
class Import:
    module: str  # dotted, without the leading dots
    level: int = 0  # leading dots of a relative import
    names: list[str] = field(default_factory=list)  # `from m import names`


def parse_imports(text: str) -> list[Import]:
    found: list[tuple[int, Import]] = []
    for m in _IMPORT.finditer(text):
        for part in m.group(1).split(","):
            found.append((m.start(), Import(part.split(" as ")[0].strip())))
    for m in _FROM.finditer(text):
        raw = m.group(3).strip().strip("()").replace("\n", " ")
        names = [n.split(" as ")[0].strip() for n in raw.split(",")]
        found.append((m.start(), Import(m.group(2), len(m.group(1)), [n for n in names if n.isidentifier()])))
    return [imp for _, imp in sorted(found, key=lambda t: t[0])]


def _module_file(base: Path, dotted: str, exists: Callable[[Path], bool]) -> Path | None:
    rel = Path(*dotted.split(".")) if dotted else Path()
    for cand in (base / rel.with_suffix(".py") if dotted else None, base / rel / "__init__.py"):
        if cand is not None and exists(cand):
            return cand
    return None


def resolve(imp: Import, current: Path, roots: list[Path], exists: Callable[[Path], bool]) -> list[tuple[Path, list[str]]]:
    """Workspace files an import refers to, each with the names wanted from it ([] = the module)."""
    if imp.level:
        base = current.parent
        for _ in range(imp.level - 1):
            base = base.parent
        bases = [base]
    else:
        bases = [b for r in roots for b in (r, r / "src")] + [current.parent]
    out: list[tuple[Path, list[str]]] = []
    for base in bases:
        pkg = _module_file(base, imp.module, exists)
        if imp.names:
            subs = [(f, []) for n in imp.names
                    if (f := _module_file(base, f"{imp.module}.{n}" if imp.module else n, exists))]
            out += subs
            rest = [n for n in imp.names if not _module_file(base, f"{imp.module}.{n}" if imp.module else n, exists)]
            if pkg is not None and rest:
                out.append((pkg, rest))
        elif pkg is not None:
            out.append((pkg, []))
        if out:
            return out
        if imp.module and not imp.names and "." in imp.module:  # import a.b.attr: fall back to a/b.py
            parent = _module_file(base, imp.module.rsplit(".", 1)[0], exists)
            if parent is not None:
                return [(parent, [])]
    return out
