"""Completion cache: a small LRU of completions recently shown, per document.

When the user types the first characters of a shown completion, the rest is served at once, without
a model call: an entry remembers the text just before the cursor (`anchor`), the rest of the cursor
line (`line_suffix`) and the completion. A lookup hits when the text before the new cursor is
anchor + the first n characters of the completion (n >= 0, typed since) and the rest of the line is
unchanged; it answers the completion's remaining characters. An entry also remembers the
cross-file context the job had (`context`, stored as a hash): when the workspace context changes, a
lookup with the new one misses, so the model answers again with what it can now see.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

ANCHOR_CHARS = 256
LOOKBACK_CHARS = ANCHOR_CHARS + 2048  # what callers pass as `before`: anchor + the longest completion


@dataclass(frozen=True)
class Entry:
    uri: str
    anchor: str
    line_suffix: str
    text: str
    replace: int
    context: int = 0  # hash of the workspace context the completion was made with


class CompletionCache:
    def __init__(self, size: int = 32) -> None:
        self.size = size
        self._entries: OrderedDict[tuple[str, str, str], Entry] = OrderedDict()
        self.hits = self.misses = 0

    def put(self, uri: str, before: str, line_suffix: str, text: str, replace: int, context: str = "") -> None:
        if self.size <= 0:
            return
        anchor = before[-ANCHOR_CHARS:]
        key = (uri, anchor, line_suffix)
        self._entries.pop(key, None)
        self._entries[key] = Entry(uri, anchor, line_suffix, text, replace, hash(context))
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def get(self, uri: str, before: str, line_suffix: str, context: str = "") -> tuple[str, int] | None:
        """(remaining text, replace) for a cursor preceded by `before` (the last LOOKBACK_CHARS of the
        document before the cursor, or all of it when shorter) and this workspace context."""
        ctx = hash(context)
        for key in reversed(self._entries):
            e = self._entries[key]
            if e.uri != uri or e.line_suffix != line_suffix or e.context != ctx:
                continue
            for n in range(len(e.text)):
                typed = e.text[:n]
                # a short anchor is the document's start: then `before` must be all of it
                whole = len(e.anchor) < ANCHOR_CHARS
                if (before == e.anchor + typed) if whole else before.endswith(e.anchor + typed):
                    self._entries.move_to_end(key)
                    self.hits += 1
                    return e.text[n:], e.replace
        self.misses += 1
        return None

    def forget(self, uri: str) -> None:
        for key in [k for k in self._entries if k[0] == uri]:
            del self._entries[key]

    def __len__(self) -> int:
        return len(self._entries)
