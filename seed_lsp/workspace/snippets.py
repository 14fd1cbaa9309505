"""Cutting a file down to what another file's completion needs, and formatting the blocks.

definition(text, name): the top-level `def`/`class` block (decorators included) or assignment
that defines `name`. outline(text): the file's shape: top-level and nested def/class signatures,
module-level constants, and the first docstring line of each definition. Non-Python files get
their head. format_block(rel, body): a comment header naming the file, then the code.
"""
from __future__ import annotations

import re

_DEF = re.compile(r"^(\s*)(?:async\s+def|def|class)\s+(\w+)")
_ASSIGN = re.compile(r"^([A-Za-z_]\w*)\s*(?::[^=]+)?=")
_COMMENT = {
    ".py": "#", ".pyi": "#", ".sh": "#", ".rb": "#", ".toml": "#", ".yaml": "#", ".yml": "#",
    ".js": "//", ".ts": "//", ".tsx": "//", ".jsx": "//", ".go": "//", ".rs": "//", ".c": "//",
    ".h": "//", ".cc": "//", ".cpp": "//", ".hpp": "//", ".java": "//", ".kt": "//", ".swift": "//",
    ".lua": "--", ".sql": "--", ".hs": "--",
}


def comment_for(name: str) -> str:
    dot = name.rfind(".")
    return _COMMENT.get(name[dot:].lower(), "#") if dot >= 0 else "#"


def format_block(rel: str, body: str, comment: str = "#") -> str:
    return f"{comment} file: {rel}\n{body.rstrip()}\n"


def _block_end(lines: list[str], start: int) -> int:
    """Index after the top-level statement starting at `start` (its indented body included)."""
    end = start + 1
    while end < len(lines):
        line = lines[end]
        if line.strip() and not line[0].isspace() and not line.lstrip().startswith((")", "]", "}")):
            break
        end += 1
    while end > start + 1 and not lines[end - 1].strip():
        end -= 1
    return end


def definition(text: str, name: str) -> str | None:
    lines = text.splitlines()
    for i, line in enumerate(lines):
        m = _DEF.match(line)
        hit = (m is not None and not m.group(1) and m.group(2) == name) or (
            (a := _ASSIGN.match(line)) is not None and a.group(1) == name)
        if hit:
            start = i
            while start > 0 and lines[start - 1].startswith("@"):
                start -= 1
            return "\n".join(lines[start:_block_end(lines, i)])
    return None


def outline(text: str, python: bool = True) -> str:
    lines = text.splitlines()
    if not python:
        return "\n".join(lines[:60])
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if _DEF.match(line):
            sig = [line]
            while not sig[-1].rstrip().endswith(":") and i + 1 < len(lines) and len(sig) < 8:
                i += 1
                sig.append(lines[i])  # a signature over several lines
            out += sig
            nxt = lines[i + 1].strip() if i + 1 < len(lines) else ""
            if nxt.startswith(('"""', "'''")):
                indent = lines[i + 1][: len(lines[i + 1]) - len(lines[i + 1].lstrip())]
                first = nxt.strip("\"' ")
                out.append(f'{indent}"""{first}"""' if first else f'{indent}"""..."""')
        elif _ASSIGN.match(line) and len(line) <= 120:
            out.append(line)
        i += 1
    return "\n".join(out)


def clip(text: str, max_chars: int) -> str:
    """At most max_chars characters, cut at a line boundary."""
    if len(text) <= max_chars:
        return text
    cut = text.rfind("\n", 0, max_chars)
    return text[:cut] if cut > 0 else ""
