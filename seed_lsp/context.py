"""Context building: cut a document into prefix | cursor | suffix windows for one infill job.

Windows are cut at line boundaries to a character budget derived from the token budget (about
CHARS_PER_TOKEN characters a token), by slicing around the cursor: the cost is the size of the
window, never the size of the document, so a 5 MB file costs what a 5 kB one does. The runtime
trims the token ids exactly to its own context limit afterwards; this cut only keeps whole lines.

Mode: "line" when the cursor's line has code after the cursor or text before it (mid-line),
"block" on an empty (or whitespace-only) line; a fixed "line" / "block" setting overrides.
"""
from __future__ import annotations

from dataclasses import dataclass

CHARS_PER_TOKEN = 4


@dataclass
class Context:
    prefix: str  # window of text before the cursor
    suffix: str  # window of text after the cursor
    line_prefix: str  # the cursor line's text before the cursor
    line_suffix: str  # the cursor line's text after the cursor (no line terminator)
    mode: str  # "line" | "block"


def choose_mode(line_prefix: str, line_suffix: str, setting: str = "auto") -> str:
    if setting in ("line", "block"):
        return setting
    if line_suffix.strip() or line_prefix.strip():
        return "line"
    return "block"


def window_before(text: str, offset: int, max_chars: int) -> str:
    """Up to max_chars before offset, starting at a line start when one lies inside the window."""
    start = max(0, offset - max_chars)
    if start > 0 and text[start - 1] not in "\r\n":
        cut = _next_line_start(text, start, offset)
        if cut is not None:
            start = cut
    return text[start:offset]


def window_after(text: str, offset: int, max_chars: int) -> str:
    """Up to max_chars after offset, ending at a line end when one lies inside the window."""
    end = min(len(text), offset + max_chars)
    if end < len(text):
        cut = max(text.rfind("\n", offset, end), text.rfind("\r", offset, end))
        if cut >= offset:
            end = cut + 1
    return text[offset:end]


def _next_line_start(text: str, start: int, stop: int) -> int | None:
    hits = [i for i in (text.find("\n", start, stop), text.find("\r", start, stop)) if i >= 0]
    if not hits:
        return None  # one long line: keep the raw slice
    i = min(hits)
    return i + 2 if text.startswith("\r\n", i) else i + 1


def build_context(text: str, offset: int, line_start: int, line_end: int, tokens_before: int,
                  tokens_after: int, mode_setting: str = "auto") -> Context:
    """The windows around `offset`; line_start/line_end delimit the cursor's line (no terminator)."""
    line_prefix = text[line_start:offset]
    line_suffix = text[offset:line_end]
    return Context(
        prefix=window_before(text, offset, tokens_before * CHARS_PER_TOKEN),
        suffix=window_after(text, offset, tokens_after * CHARS_PER_TOKEN),
        line_prefix=line_prefix,
        line_suffix=line_suffix,
        mode=choose_mode(line_prefix, line_suffix, mode_setting),
    )
