"""Freshness: the model jobs in flight per document, and which edits make them stale.

A completion is computed for the text around one cursor line. An edit that starts on or above that
line (or replaces the whole document) moves or changes the text under the request: its job is
cancelled between two denoising steps and the request is answered ContentModified. Edits below the
cursor line leave the answer valid. A newer request for the same document supersedes the older one
(the engine's latest-wins on the job key); that one is answered RequestCancelled.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(eq=False)
class Pending:
    uri: str
    line: int
    handle: Any  # the engine's job handle (has .cancel())
    reason: str | None = None  # "changed" | "closed" once made stale

    def stale(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason
            self.handle.cancel()


@dataclass
class PendingTable:
    by_uri: dict[str, set[Pending]] = field(default_factory=dict)

    def add(self, uri: str, line: int, handle: Any) -> Pending:
        p = Pending(uri, line, handle)
        self.by_uri.setdefault(uri, set()).add(p)
        return p

    def discard(self, p: Pending) -> None:
        group = self.by_uri.get(p.uri)
        if group is not None:
            group.discard(p)
            if not group:
                del self.by_uri[p.uri]

    def document_changed(self, uri: str, start_lines: list[int | None]) -> int:
        """Cancel the jobs an edit makes stale; start_lines: each change's first line (None = whole)."""
        first = min((-1 if s is None else s for s in start_lines), default=None)
        if first is None:
            return 0
        stale = [p for p in self.by_uri.get(uri, ()) if first <= p.line]
        for p in stale:
            p.stale("changed")
        return len(stale)

    def document_closed(self, uri: str) -> None:
        for p in list(self.by_uri.get(uri, ())):
            p.stale("closed")

    def __len__(self) -> int:
        return sum(len(g) for g in self.by_uri.values())
