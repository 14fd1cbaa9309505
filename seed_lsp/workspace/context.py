"""WorkspaceContext: cross-file context for a completion prompt, from a watchdog-fed index.

    ctx = WorkspaceContext([root1, root2])        # scans, then follows the disk (watchdog)
    ctx.did_open(uri, text); ctx.did_change(uri, text); ctx.did_close(uri)
    ctx.snippets_for(uri, text, budget_chars) -> str   # goes before the prefix
    ctx.close()

snippets_for picks, in this order, until budget_chars is used: (1) files the current file
imports (Python, resolved in the workspace): the definitions of the imported names, else the
module's outline; (2) files open in the editor, most recently edited first; (3) files recently
changed on disk. Each is a comment-headed block ("# file: pkg/util.py\n<code>\n"); the current
file is never included; the result never exceeds budget_chars.
"""
from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import unquote, urlparse

from seed_lsp.workspace.imports import parse_imports, resolve
from seed_lsp.workspace.index import WorkspaceIndex
from seed_lsp.workspace.snippets import clip, comment_for, definition, format_block, outline
from seed_lsp.workspace.watcher import WorkspaceWatcher

MIN_BLOCK = 120  # a block clipped below this says too little to be worth its header
RECENT_FILES = 4


def uri_to_path(uri: str) -> Path | None:
    parsed = urlparse(uri)
    if parsed.scheme not in ("file", ""):
        return None
    return Path(unquote(parsed.path)).resolve()


class WorkspaceContext:
    def __init__(self, roots: list[str | Path], watch: bool = True, polling: bool = False, **caps: int) -> None:
        self.index = WorkspaceIndex(roots, **caps)
        self.index.scan()
        self.watcher = WorkspaceWatcher(self.index, polling=polling) if watch else None
        self.open_docs: dict[Path, tuple[str, float]] = {}  # path -> (text, last edit time)

    def close(self) -> None:
        if self.watcher is not None:
            self.watcher.close()

    def did_open(self, uri: str, text: str) -> None:
        path = uri_to_path(uri)
        if path is not None:
            self.open_docs[path] = (text, time.time())

    did_change = did_open

    def did_close(self, uri: str) -> None:
        path = uri_to_path(uri)
        if path is not None:
            self.open_docs.pop(path, None)

    def _text_of(self, path: Path) -> str | None:
        if path in self.open_docs:
            return self.open_docs[path][0]
        entry = self.index.get(path)
        return entry.text if entry else None

    def _rel(self, path: Path) -> str:
        where = self.index.locate(path)
        return where[1] if where else path.name

    def candidates(self, uri: str, text: str) -> list[tuple[Path, str]]:
        """(path, snippet body) in priority order, without the current file, no path twice."""
        current = uri_to_path(uri)
        seen = {current}
        out: list[tuple[Path, str]] = []
        if current is not None and current.suffix in (".py", ".pyi"):
            exists = lambda p: p in self.open_docs or self.index.get(p) is not None  # noqa: E731
            for imp in parse_imports(text):
                for path, names in resolve(imp, current, self.index.roots, exists):
                    body = self._text_of(path)
                    if path in seen or body is None:
                        continue
                    seen.add(path)
                    defs = [d for n in names if (d := definition(body, n))]
                    out.append((path, "\n\n".join(defs) if defs else outline(body)))
        recent_open = sorted(self.open_docs.items(), key=lambda kv: -kv[1][1])
        recent_disk = sorted(self.index.entries(), key=lambda e: -e.touched)[:RECENT_FILES]
        for path, body in [(p, t) for p, (t, _) in recent_open] + [(e.path, e.text) for e in recent_disk]:
            if path not in seen:
                seen.add(path)
                out.append((path, outline(body, python=path.suffix in (".py", ".pyi"))))
        return [(p, b) for p, b in out if b.strip()]

    def snippets_for(self, uri: str, text: str, budget_chars: int) -> str:
        blocks: list[str] = []
        left = budget_chars
        for path, body in self.candidates(uri, text):
            rel = self._rel(path)
            block = format_block(rel, body, comment_for(rel))
            if len(block) > left:
                header = len(block) - len(body.rstrip()) - 1
                if left - header < MIN_BLOCK:
                    continue
                block = format_block(rel, clip(body, left - header - 1), comment_for(rel))
            if len(block) <= left:
                blocks.append(block)
                left -= len(block)
        return "".join(blocks)
