"""Hole markers for seed.fillHoles: every `<|fill|>` in a document is a gap.

The marker may stand anywhere: alone on an indented line (a missing block), inside a line (a missing
expression), or in a comment. split_holes(text) -> (offsets of each marker, the texts around them):
segments[0] + gap0 + segments[1] + gap1 + ... + segments[-1] == text with markers filled.
"""
from __future__ import annotations

MARKER = "<|fill|>"


def find_holes(text: str, marker: str = MARKER) -> list[int]:
    out, i = [], text.find(marker)
    while i >= 0:
        out.append(i)
        i = text.find(marker, i + len(marker))
    return out


def split_holes(text: str, marker: str = MARKER) -> tuple[list[int], list[str]]:
    offsets = find_holes(text, marker)
    segments, prev = [], 0
    for off in offsets:
        segments.append(text[prev:off])
        prev = off + len(marker)
    segments.append(text[prev:])
    return offsets, segments
