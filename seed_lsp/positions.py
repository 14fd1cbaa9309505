"""Positions: LSP positions (line, character counted in the negotiated encoding) <-> str offsets.

LSP counts `character` in UTF-16 code units by default, or UTF-8 bytes / UTF-32 code points when
negotiated; Python indexes str by code point. A LineIndex is built once per document version (one
regex pass, no copy of the text) and converts both ways. Lines end at "\\n", "\\r\\n" or "\\r".

offset(line, character) is None when the line is past the end of the document (the caller answers
with an empty result); a character past the end of its line clamps to the line end (LSP rule), and a
character inside a surrogate pair or a multi-byte sequence rounds down to the code point's start.
"""
from __future__ import annotations

import re
from bisect import bisect_right

UTF8, UTF16, UTF32 = "utf-8", "utf-16", "utf-32"
_NEWLINE = re.compile(r"\r\n|\r|\n")


def units_to_index(line: str, units: int, encoding: str = UTF16) -> int:
    """Code-point index in `line` of a character offset counted in `encoding` units (clamped)."""
    if units <= 0:
        return 0
    if encoding == UTF32 or line.isascii():
        return min(units, len(line))
    count = 0
    for i, ch in enumerate(line):
        width = _width(ch, encoding)
        if count + width > units:
            return i  # inside this code point: round down to its start
        count += width
    return len(line)


def index_to_units(line: str, index: int, encoding: str = UTF16) -> int:
    """Character offset in `encoding` units of code-point `index` in `line`."""
    head = line[: max(0, index)]
    if encoding == UTF32 or head.isascii():
        return len(head)
    if encoding == UTF8:
        return len(head.encode("utf-8"))
    return len(head.encode("utf-16-le")) // 2


def _width(ch: str, encoding: str) -> int:
    cp = ord(ch)
    if encoding == UTF8:
        return 1 if cp < 0x80 else 2 if cp < 0x800 else 3 if cp < 0x10000 else 4
    return 2 if cp > 0xFFFF else 1


class LineIndex:
    """Line starts of one text, for offset <-> (line, character) conversion."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.starts = [0] + [m.end() for m in _NEWLINE.finditer(text)]  # start offset of each line

    @property
    def line_count(self) -> int:
        return len(self.starts)

    def line_span(self, line: int) -> tuple[int, int]:
        """(start, end) offsets of a line's text, without its terminator."""
        start = self.starts[line]
        end = self.starts[line + 1] if line + 1 < len(self.starts) else len(self.text)
        while end > start and self.text[end - 1] in "\r\n":
            end -= 1
        return start, end

    def line_text(self, line: int) -> str:
        start, end = self.line_span(line)
        return self.text[start:end]

    def offset(self, line: int, character: int, encoding: str = UTF16) -> int | None:
        if line < 0 or line >= len(self.starts) or character < 0:
            return None
        start, end = self.line_span(line)
        return start + units_to_index(self.text[start:end], character, encoding)

    def position(self, offset: int, encoding: str = UTF16) -> tuple[int, int]:
        offset = max(0, min(offset, len(self.text)))
        line = bisect_right(self.starts, offset) - 1
        start, end = self.line_span(line)
        return line, index_to_units(self.text[start:end], min(offset, end) - start, encoding)
