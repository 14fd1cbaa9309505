"""`seed-lsp complete FILE:LINE:COL [--model DIR] [--mode line|block|auto] [--json]`: print the infill
at a position (1-based line and column, as editors and compilers print them; the column counts
characters). The file is read as UTF-8; the text before the position is the prefix, after it the suffix.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def parse_location(spec: str) -> tuple[Path, int, int]:
    try:
        path, line, col = spec.rsplit(":", 2)
        return Path(path), int(line), int(col)
    except ValueError:
        raise SystemExit(f"seed-lsp complete: expected FILE:LINE:COL, got {spec!r}") from None


def split_at(text: str, line: int, col: int) -> tuple[str, str]:
    """Prefix and suffix at a 1-based (line, column); a clear error when outside the file."""
    lines = text.split("\n")
    if not 1 <= line <= len(lines):
        raise SystemExit(f"seed-lsp complete: line {line} is outside the file (1..{len(lines)})")
    if not 1 <= col <= len(lines[line - 1]) + 1:
        raise SystemExit(f"seed-lsp complete: column {col} is outside line {line} (1..{len(lines[line - 1]) + 1})")
    offset = sum(len(s) + 1 for s in lines[: line - 1]) + col - 1
    return text[:offset], text[offset:]


def auto_mode(prefix: str, suffix: str) -> str:
    """Block on an empty line, line otherwise (the server's rule)."""
    before = prefix.rsplit("\n", 1)[-1]
    after = suffix.split("\n", 1)[0]
    return "block" if not before.strip() and not after.strip() else "line"


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="seed-lsp complete", description=__doc__.split("\n")[0])
    p.add_argument("location", help="FILE:LINE:COL (1-based)")
    p.add_argument("--model", default=None, help="checkpoint directory (default: the embedded model)")
    p.add_argument("--device", default="auto")
    p.add_argument("--mode", choices=("auto", "line", "block"), default="auto")
    p.add_argument("--max-tokens", type=int, default=64)
    p.add_argument("--strategy", default="auto", help="decoding strategy (auto: the model's own choice)")
    p.add_argument("--json", action="store_true", help="print the whole result as JSON")
    a = p.parse_args(argv)
    path, line, col = parse_location(a.location)
    if not path.is_file():
        raise SystemExit(f"seed-lsp complete: no such file {path}")
    prefix, suffix = split_at(path.read_text(encoding="utf-8"), line, col)
    mode = auto_mode(prefix, suffix) if a.mode == "auto" else a.mode

    from runtime import Engine
    from runtime.models import CheckpointError

    try:
        engine = Engine.load(a.model, device=a.device)
    except CheckpointError as exc:
        raise SystemExit(f"seed-lsp complete: {exc}") from None
    try:
        r = engine.infill(prefix, suffix, mode=mode, max_tokens=a.max_tokens, strategy=a.strategy)
    finally:
        engine.close()
    if a.json:
        out = {"text": r.text, "mode": mode, "tokens": r.tokens, "steps": r.steps, "stop_reason": r.stop_reason,
               "confidence": round(r.confidence, 4), "timings_ms": {k: round(v, 2) for k, v in r.timings.items()}}
        print(json.dumps(out, ensure_ascii=False))
    else:
        sys.stdout.write(r.text + "\n")
    return 0
