"""WorkspaceSlot: the server's cross-file context, built off the event loop and fed by the editor.

    slot = WorkspaceSlot()
    slot.start(roots, loop)                  # scan + watchdog on a thread; requests never wait for it
    slot.start_now(roots, watch=False)       # or scan here and now, without a loop (eval repo)
    slot.did_open(uri, text); slot.did_change(uri, text); slot.did_close(uri)      (event loop)
    slot.snippets(uri, text, budget_chars) -> str    ("" while scanning, when off, or on error)
    slot.info() -> dict                      (seed.status)
    slot.stop()

Threads: WorkspaceContext (seed_lsp.workspace) scans the folders in its constructor, which takes
seconds on a big workspace, so it is built on a thread; when it is ready the loop adopts it
(call_soon_threadsafe) and replays the documents opened meanwhile. From then on only the loop calls
it; watchdog's thread writes the index, which has its own lock.

Memo: the snippets depend on the current file's imports, the index (its version counter) and the
other open documents. Typing in the current file changes none of these, so they are computed once
and reused keystroke after keystroke; the completion cache, which keys on them, keeps hitting.
"""
from __future__ import annotations

import asyncio
import logging
import threading
import time
from pathlib import Path
from urllib.parse import unquote, urlparse

from seed_lsp.workspace.imports import parse_imports

log = logging.getLogger("seed_lsp.workspace")

HEAD_CHARS = 32_768  # imports are read from the document's head: a 5 MB file costs what a 30 kB one does


def roots_from_params(folders, root_uri: str | None, root_path: str | None) -> list[Path]:
    """Existing directories named by workspaceFolders, else rootUri, else rootPath.

    The file-system root and the home directory are skipped: an editor opened on a loose file
    reports them, and indexing a whole home is neither useful nor cheap."""
    uris = [f.uri for f in folders or []] or ([root_uri] if root_uri else [])
    paths = [Path(unquote(urlparse(u).path)) for u in uris if urlparse(u).scheme in ("file", "")]
    if not paths and root_path:
        paths = [Path(root_path)]
    skip = {Path("/"), Path.home().resolve()}
    out: list[Path] = []
    for p in paths:
        p = p.resolve()
        if p.is_dir() and p not in skip and p not in out:
            out.append(p)
    return out


class WorkspaceSlot:
    def __init__(self) -> None:
        self.roots: list[Path] = []
        self.state = "off"  # off | scanning | ready | error
        self.error: str | None = None
        self.scan_s: float | None = None
        self._ctx = None
        self._gen = 0  # which start() a finishing build belongs to (a later start/stop wins)
        self._docs: dict[str, str] = {}  # open documents: uri -> text (replayed when the context is ready)
        self._stamps: dict[str, int] = {}  # uri -> edits seen (the memo's view of the other documents)
        self._memo: tuple[tuple, str] | None = None

    # --- lifecycle ----------------------------------------------------------------------------
    def start(self, roots: list[Path], loop: asyncio.AbstractEventLoop, **kw) -> None:
        """(Re)build the context for `roots` on a thread; kw goes to WorkspaceContext (tests: polling)."""
        self.stop()
        self.roots = list(roots)
        if not self.roots:
            return
        self._gen += 1
        gen, self.state, self.error = self._gen, "scanning", None
        started = time.perf_counter()

        def build() -> None:
            try:
                from seed_lsp.workspace import WorkspaceContext

                ctx = WorkspaceContext(self.roots, **kw)
            except Exception as exc:  # an unreadable folder must not take completions down
                loop.call_soon_threadsafe(self._failed, gen, f"{type(exc).__name__}: {exc}")
                return
            try:
                loop.call_soon_threadsafe(self._adopt, gen, ctx, time.perf_counter() - started)
            except RuntimeError:  # the loop is gone (server exiting)
                ctx.close()

        threading.Thread(target=build, name="seed-lsp-workspace", daemon=True).start()

    def start_now(self, roots: list[Path], **kw) -> None:
        """Build the context on this thread and adopt it at once: no event loop (`seed-lsp eval repo`)."""
        from seed_lsp.workspace import WorkspaceContext

        self.stop()
        self.roots = list(roots)
        self._gen += 1
        started = time.perf_counter()
        self._adopt(self._gen, WorkspaceContext(self.roots, **kw), time.perf_counter() - started)

    def _adopt(self, gen: int, ctx, seconds: float) -> None:
        if gen != self._gen:  # stopped or restarted while scanning
            _close_quietly(ctx)
            return
        self._ctx, self.state, self.scan_s = ctx, "ready", round(seconds, 3)
        for uri, text in self._docs.items():
            ctx.did_open(uri, text)
        log.info("workspace context ready: %d files in %.2fs (%s)", len(ctx.index.files), seconds,
                 ", ".join(map(str, self.roots)))

    def _failed(self, gen: int, error: str) -> None:
        if gen == self._gen:
            self.state, self.error = "error", error
            log.warning("workspace context unavailable: %s", error)

    def stop(self) -> None:
        self._gen += 1
        ctx, self._ctx, self._memo = self._ctx, None, None
        self.state = "off"
        if ctx is not None:
            # the watcher's join can take a moment: not on the event loop
            threading.Thread(target=_close_quietly, args=(ctx,), daemon=True).start()

    # --- documents ----------------------------------------------------------------------------
    def did_open(self, uri: str, text: str) -> None:
        self._docs[uri] = text
        self._stamps[uri] = self._stamps.get(uri, 0) + 1
        if self._ctx is not None:
            self._ctx.did_open(uri, text)

    did_change = did_open

    def did_close(self, uri: str) -> None:
        self._docs.pop(uri, None)
        self._stamps.pop(uri, None)
        if self._ctx is not None:
            self._ctx.did_close(uri)

    # --- queries ------------------------------------------------------------------------------
    def snippets(self, uri: str, text: str, budget_chars: int) -> str:
        ctx = self._ctx
        if ctx is None or budget_chars <= 0:
            return ""
        head = text[:HEAD_CHARS]
        imports = tuple((i.module, i.level, tuple(i.names)) for i in parse_imports(head))
        others = tuple(sorted((u, s) for u, s in self._stamps.items() if u != uri))
        key = (uri, budget_chars, imports, ctx.index.version, others)
        if self._memo is not None and self._memo[0] == key:
            return self._memo[1]
        try:
            out = ctx.snippets_for(uri, head, budget_chars)
        except Exception:  # context is a bonus: a bug there must not cost the completion
            log.exception("workspace snippets failed for %s", uri)
            out = ""
        self._memo = (key, out)
        return out

    def info(self) -> dict:
        ctx = self._ctx
        out = {"state": self.state, "roots": [str(r) for r in self.roots], "open": len(self._docs)}
        if ctx is not None:
            out.update(files=len(ctx.index.files), version=ctx.index.version, scan_s=self.scan_s,
                       watcher=type(ctx.watcher.observer).__name__ if ctx.watcher else None)
        if self.error:
            out["error"] = self.error
        return out


def _close_quietly(ctx) -> None:
    try:
        ctx.close()
    except Exception as exc:
        log.debug("closing the workspace context: %s", exc)
