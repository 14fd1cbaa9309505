"""Minimal edits: the spans of `old` that `new` changes, diffed on word/space/punctuation tokens.

minimal_edits(old, new) -> [Edit(start, end, text)] with offsets into `old`, sorted, non-overlapping,
each covering only text that changes (an unchanged word is never rewritten). Diffing on tokens rather
than characters keeps edits on word boundaries (no "rename" turned into three one-letter edits);
`merge_gap` joins two edits separated by at most that many unchanged characters, since the editor
shows one edit better than two split by a single space.
apply_edits(text, edits) applies them (what a client does; used by tests and checks).
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

_TOKEN = re.compile(r"\w+|\s+|[^\w\s]", re.UNICODE)


@dataclass(frozen=True)
class Edit:
    start: int  # offset into the old text
    end: int
    text: str


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text)


def minimal_edits(old: str, new: str, merge_gap: int = 1) -> list[Edit]:
    if old == new:
        return []
    a, b = tokens(old), tokens(new)
    a_off = [0]
    for t in a:
        a_off.append(a_off[-1] + len(t))
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    edits: list[Edit] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        edit = Edit(a_off[i1], a_off[i2], "".join(b[j1:j2]))
        if edits and edit.start - edits[-1].end <= merge_gap:
            prev = edits.pop()
            edit = Edit(prev.start, edit.end, prev.text + old[prev.end:edit.start] + edit.text)
        edits.append(edit)
    return [_trim(old, e) for e in edits]


def _trim(old: str, e: Edit) -> Edit:
    """Drop a common head/tail between the replaced text and its replacement (token diffs can leave one)."""
    replaced, text = old[e.start:e.end], e.text
    head = 0
    while head < min(len(replaced), len(text)) and replaced[head] == text[head]:
        head += 1
    tail = 0
    while tail < min(len(replaced), len(text)) - head and replaced[-1 - tail] == text[-1 - tail]:
        tail += 1
    return Edit(e.start + head, e.end - tail, text[head:len(text) - tail])


def apply_edits(text: str, edits: list[Edit]) -> str:
    for e in sorted(edits, key=lambda e: e.start, reverse=True):
        text = text[:e.start] + e.text + text[e.end:]
    return text
