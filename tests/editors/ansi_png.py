"""Renders a terminal screen captured with `tmux capture-pane -e -p` (text + SGR colour escapes) to a
PNG with Pillow and a monospace font: the Neovim screenshot in docs/img comes from here.

Understands what tmux emits: reset, bold, dim, italic, underline, reverse, the 8/16 colours,
256-colour (38;5;n) and 24-bit (38;2;r;g;b) foreground/background. Other escapes are skipped.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

RGB = tuple[int, int, int]
DEFAULT_FG: RGB = (0xE0, 0xE2, 0xEA)
DEFAULT_BG: RGB = (0x14, 0x16, 0x1B)
BASE16: list[RGB] = [
    (0x00, 0x00, 0x00), (0xCD, 0x31, 0x31), (0x0D, 0xBC, 0x79), (0xE5, 0xE5, 0x10),
    (0x24, 0x72, 0xC8), (0xBC, 0x3F, 0xBC), (0x11, 0xA8, 0xCD), (0xE5, 0xE5, 0xE5),
    (0x66, 0x66, 0x66), (0xF1, 0x4C, 0x4C), (0x23, 0xD1, 0x8B), (0xF5, 0xF5, 0x43),
    (0x3B, 0x8E, 0xEA), (0xD6, 0x70, 0xD6), (0x29, 0xB8, 0xDB), (0xFF, 0xFF, 0xFF),
]
FONT_DIRS = ["/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/dejavu"]
ESCAPE = re.compile(r"\x1b\[([0-9;:]*)([A-Za-z])|\x1b[()][A-Za-z0-9]|\x1b.")


@dataclass(frozen=True)
class Style:
    fg: RGB | None = None
    bg: RGB | None = None
    bold: bool = False
    dim: bool = False
    italic: bool = False
    underline: bool = False
    reverse: bool = False


def color256(n: int) -> RGB:
    if n < 16:
        return BASE16[n]
    if n < 232:
        n -= 16
        steps = [0, 95, 135, 175, 215, 255]
        return (steps[n // 36], steps[(n // 6) % 6], steps[n % 6])
    level = 8 + (n - 232) * 10
    return (level, level, level)


def apply_sgr(style: Style, params: list[int]) -> Style:
    i = 0
    params = params or [0]
    while i < len(params):
        p = params[i]
        if p == 0:
            style = Style()
        elif p in (1, 2, 3, 4, 7):
            style = replace(style, **{{1: "bold", 2: "dim", 3: "italic", 4: "underline", 7: "reverse"}[p]: True})
        elif p == 22:
            style = replace(style, bold=False, dim=False)
        elif p in (23, 24, 27):
            style = replace(style, **{{23: "italic", 24: "underline", 27: "reverse"}[p]: False})
        elif 30 <= p <= 37 or 90 <= p <= 97:
            style = replace(style, fg=BASE16[p - 30 if p < 90 else p - 90 + 8])
        elif 40 <= p <= 47 or 100 <= p <= 107:
            style = replace(style, bg=BASE16[p - 40 if p < 100 else p - 100 + 8])
        elif p == 39:
            style = replace(style, fg=None)
        elif p == 49:
            style = replace(style, bg=None)
        elif p in (38, 48) and i + 1 < len(params):
            if params[i + 1] == 5 and i + 2 < len(params):
                rgb, i = color256(params[i + 2]), i + 2
            elif params[i + 1] == 2 and i + 4 < len(params):
                rgb, i = (params[i + 2], params[i + 3], params[i + 4]), i + 4
            else:
                rgb = None
            style = replace(style, **{"fg" if p == 38 else "bg": rgb})
        i += 1
    return style


def parse(screen: str) -> list[list[tuple[str, Style]]]:
    """Lines of (character, style) cells."""
    rows: list[list[tuple[str, Style]]] = []
    style = Style()
    for line in screen.split("\n"):
        cells: list[tuple[str, Style]] = []
        pos = 0
        for m in ESCAPE.finditer(line):
            cells += [(ch, style) for ch in line[pos:m.start()]]
            if m.group(2) == "m":
                style = apply_sgr(style, [int(x) for x in re.split("[;:]", m.group(1)) if x != ""])
            pos = m.end()
        cells += [(ch, style) for ch in line[pos:]]
        rows.append(cells)
    while rows and not rows[-1]:
        rows.pop()
    return rows


def _font(name: str, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for d in FONT_DIRS:
        path = Path(d) / name
        if path.is_file():
            return ImageFont.truetype(str(path), size)
    return ImageFont.load_default()


def render(screen: str, out: Path, cols: int | None = None, font_size: int = 16) -> Path:
    rows = parse(screen)
    fonts = {(b, it): _font(f"DejaVuSansMono{'-Bold' if b else ''}{('Oblique' if b else '-Oblique') if it else ''}.ttf", font_size)
             for b in (False, True) for it in (False, True)}
    regular = fonts[(False, False)]
    cell_w = max(1, round(regular.getlength("M")))
    cell_h = int(font_size * 1.35)
    width = cols or max((len(r) for r in rows), default=1)
    pad = 8
    img = Image.new("RGB", (width * cell_w + 2 * pad, max(1, len(rows)) * cell_h + 2 * pad), DEFAULT_BG)
    draw = ImageDraw.Draw(img)
    for y, cells in enumerate(rows):
        for x, (ch, st) in enumerate(cells[:width]):
            fg, bg = st.fg or DEFAULT_FG, st.bg or DEFAULT_BG
            if st.reverse:
                fg, bg = bg, fg
            if st.dim:
                fg = tuple((c + b) // 2 for c, b in zip(fg, bg))  # type: ignore[assignment]
            x0, y0 = pad + x * cell_w, pad + y * cell_h
            if bg != DEFAULT_BG:
                draw.rectangle([x0, y0, x0 + cell_w - 1, y0 + cell_h - 1], fill=bg)
            if ch.strip():
                draw.text((x0, y0 + (cell_h - font_size) // 2), ch, font=fonts[(st.bold, st.italic)], fill=fg)
            if st.underline:
                draw.line([x0, y0 + cell_h - 2, x0 + cell_w - 1, y0 + cell_h - 2], fill=fg)
    out.parent.mkdir(parents=True, exist_ok=True)
    img.save(out)
    return out
