"""Which workspace paths to leave out of the index: .gitignore rules plus directories never worth reading.

A small .gitignore matcher covering what real projects use: blank lines and # comments, `!` negation,
trailing `/` (directories only), leading or inner `/` (anchored to the .gitignore's directory), `*`,
`?`, `[...]`, and `**` (any number of directories). Nested .gitignore files apply below their
directory; the last matching rule wins; an ignored directory ignores everything under it.
Not covered: escaped trailing spaces, .git/info/exclude and the global excludes file.
"""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from pathlib import Path

SKIP_DIRS = frozenset({
    ".git", ".hg", ".svn", "node_modules", ".venv", "venv", "__pycache__", ".mypy_cache",
    ".pytest_cache", ".ruff_cache", ".tox", ".nox", ".eggs", ".idea", ".vscode-test",
})


@dataclass(frozen=True)
class Rule:
    regex: re.Pattern
    negate: bool
    dir_only: bool
    anchored: bool


def _translate(glob: str) -> str:
    out, i = [], 0
    while i < len(glob):
        if glob.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif glob.startswith("/**", i) and i + 3 == len(glob):
            out.append("(?:/.*)?")
            i += 3
        elif glob.startswith("**", i):
            out.append(".*")
            i += 2
        elif glob[i] == "*":
            out.append("[^/]*")
            i += 1
        elif glob[i] == "?":
            out.append("[^/]")
            i += 1
        elif glob[i] == "[" and "]" in glob[i + 1:]:
            j = glob.index("]", i + 1)
            body = glob[i + 1:j].replace("\\", "\\\\")
            out.append("[" + ("^" + body[1:] if body.startswith("!") else body) + "]")
            i = j + 1
        else:
            out.append(re.escape(glob[i]))
            i += 1
    return "".join(out)


def parse_rules(text: str) -> list[Rule]:
    rules = []
    for raw in text.splitlines():
        line = raw.rstrip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        if negate:
            line = line[1:]
        dir_only = line.endswith("/")
        line = line.rstrip("/")
        anchored = "/" in line
        line = line.lstrip("/")
        if not line:
            continue
        rules.append(Rule(re.compile(_translate(line) + r"\Z"), negate, dir_only, anchored))
    return rules


class GitIgnore:
    """The ignore decisions for one workspace root, reading .gitignore files lazily (cached)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._rules: dict[str, list[Rule]] = {}  # directory (posix, relative; "" = root) -> rules
        self._lock = threading.Lock()

    def forget(self, gitignore_rel: str) -> None:
        """A .gitignore changed on disk: drop every cached rule set (cheap to re-read)."""
        with self._lock:
            self._rules.clear()

    def _rules_for(self, dir_rel: str) -> list[Rule]:
        with self._lock:
            if dir_rel not in self._rules:
                path = self.root / dir_rel / ".gitignore"
                try:
                    self._rules[dir_rel] = parse_rules(path.read_text(encoding="utf-8", errors="replace"))
                except OSError:
                    self._rules[dir_rel] = []
            return self._rules[dir_rel]

    def _match_here(self, parts: list[str], is_dir: bool) -> bool | None:
        """The decision of the .gitignore files for the path `parts` itself (None: no rule matched)."""
        decision = None
        for depth in range(len(parts)):  # .gitignore of each ancestor directory, outermost first
            base = "/".join(parts[:depth])
            rel = "/".join(parts[depth:])
            for rule in self._rules_for(base):
                if rule.dir_only and not is_dir:
                    continue
                target = rel if rule.anchored else parts[-1]
                if rule.regex.match(target):
                    decision = not rule.negate
        return decision

    def ignored(self, rel: str, is_dir: bool) -> bool:
        """Is the path (posix, relative to the root) ignored, by itself or through a parent?"""
        parts = [p for p in rel.split("/") if p]
        if not parts:
            return False
        for n in range(1, len(parts) + 1):
            here_is_dir = is_dir or n < len(parts)
            if here_is_dir and parts[n - 1] in SKIP_DIRS:
                return True
            if self._match_here(parts[:n], here_is_dir):
                return True
        return False
