"""`seed-lsp bench lsp`: drive the real server like a person typing, report what the editor feels.

    seed-lsp bench lsp [--model DIR] [--device D] [--json OUT] [--keystrokes N] [--interval-ms 50]
                       [--word-pause-ms 200] [--line-pause-ms 800]

Starts the server exactly as editors do (`seed-lsp serve`, stdio, in-process model), opens a
200-line Python file, and retypes lines of it: each line starts as a fresh auto-indented line (the
Enter keystroke), then its characters follow one at a time. Every keystroke is a didChange and an
inline completion request, and the previous request, if still in flight, is cancelled
($/cancelRequest, as VS Code and Neovim do). Keystrokes come every `interval` ms, except that the
typist pauses: after a word (a space) the next key comes `word_pause` ms later, and at the end of a
line `line_pause` ms later, the time a person takes to look at the ghost text. The pauses are where
a completion is worth having; a bench without them (`--word-pause-ms 50 --line-pause-ms 50`)
supersedes nearly every request and its percentiles describe a handful of survivors.

Reports the p50/p95 latency (sent -> reply) of answered requests, and separately of the requests
the typist waited on (`pauses`: each one's reply decides how long the user looks at nothing), how
many were cancelled (by the client, or superseded / made stale by the server), items shown, the
server's counters, its RSS, and the machine's load average. Not a test: numbers only.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import time
from dataclasses import dataclass
from datetime import date

from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pygls.lsp.client import LanguageClient

from seed_lsp.server import percentile

URI = "file:///bench/typing.py"
CANCELLED = (-32800, -32801)  # RequestCancelled (superseded / cancelled), ContentModified (stale)


def python_file(lines: int = 200) -> str:
    """A deterministic, plausible Python module of `lines` lines."""
    out = ['"""Inventory helpers (benchmark text)."""', "import math", "from dataclasses import dataclass", ""]
    i = 0
    while len(out) < lines:
        out += [f"@dataclass", f"class Item{i}:", "    name: str", f"    price: float = {i}.5", "    count: int = 0", "",
                f"    def total_{i}(self, tax: float = 0.2) -> float:",
                "        subtotal = self.price * self.count", "        return round(subtotal * (1 + tax), 2)", "",
                f"def cheapest_{i}(items: list[Item{i}]) -> Item{i}:",
                "    return min(items, key=lambda item: item.price)", ""]
        i += 1
    return "\n".join(out[:lines]) + "\n"


@dataclass(frozen=True)
class Key:
    """One keystroke: replace line[col:end] with text; the cursor lands at `cursor`; the next key
    comes `gap_ms` later (pause: the typist waits there, longer than the cadence)."""
    line: int
    col: int
    end: int
    text: str
    cursor: int
    gap_ms: float
    pause: bool


def typing_plan(lines: list[str], keystrokes: int, interval_ms: float = 50.0, word_pause_ms: float = 200.0,
                line_pause_ms: float = 800.0, every: int | None = None) -> list[Key]:
    """The keystrokes of a person retyping every `every`-th non-blank line (default: ~40 lines).

    A line starts as Enter does: the old text is replaced by its indentation (the editor indents,
    the typist does not), then each character is typed. After a space that ends a word the next key
    waits `word_pause_ms`; after the line's last character, `line_pause_ms`."""
    targets = [i for i, ln in enumerate(lines) if ln.strip()][:: every or max(1, len(lines) // 40)]
    plan: list[Key] = []
    for line_no in targets:
        line = lines[line_no]
        indent = len(line) - len(line.lstrip())
        plan.append(Key(line_no, 0, len(line), line[:indent], indent, interval_ms, False))
        body = line[indent:]
        for i, ch in enumerate(body):
            col = indent + i
            if i == len(body) - 1:
                gap = line_pause_ms
            elif ch == " " and body[i - 1] != " ":
                gap = word_pause_ms
            else:
                gap = interval_ms
            plan.append(Key(line_no, col, col, ch, col + 1, gap, gap > interval_ms))
    return plan[:keystrokes]


def server_rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _change(version: int, key: Key) -> types.DidChangeTextDocumentParams:
    rng = types.Range(start=types.Position(line=key.line, character=key.col),
                      end=types.Position(line=key.line, character=key.end))
    return types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=URI, version=version),
        content_changes=[types.TextDocumentContentChangePartial(range=rng, text=key.text)])


def _latency(values: list[float]) -> dict:
    return {"p50": round(percentile(values, 50), 1), "p95": round(percentile(values, 95), 1),
            "mean": round(sum(values) / len(values), 1) if values else 0.0, "max": round(max(values, default=0.0), 1)}


class Tally:
    """Outcomes of the requests, all of them and those the typist paused on."""

    def __init__(self) -> None:
        self.counts = {"answered": 0, "items": 0, "cancelled": 0, "errors": 0}
        self.latencies: list[float] = []
        self.pause_latencies: list[float] = []
        self.pauses = 0
        self.slowest: list[tuple[float, int, Key]] = []  # (ms, request number, keystroke), answered only

    def done(self, n: int, key: Key, sent: float, fut: asyncio.Future) -> None:
        exc = None if fut.cancelled() else fut.exception()
        if fut.cancelled() or (isinstance(exc, JsonRpcException) and exc.code in CANCELLED):
            self.counts["cancelled"] += 1
        elif exc is not None:
            self.counts["errors"] += 1
        else:
            ms = (time.perf_counter() - sent) * 1e3
            self.counts["answered"] += 1
            self.latencies.append(ms)
            if key.pause:
                self.pause_latencies.append(ms)
            self.slowest = sorted(self.slowest + [(ms, n, key)], key=lambda s: -s[0])[:5]
            self.counts["items"] += bool(getattr(fut.result(), "items", None))

    def report(self) -> dict:
        return {**self.counts, "latency_ms": _latency(self.latencies),
                "pauses": {"requests": self.pauses, "answered": len(self.pause_latencies),
                           "latency_ms": _latency(self.pause_latencies)},
                "slowest": [{"ms": round(ms, 1), "request": n, "line": k.line, "column": k.cursor, "pause": k.pause}
                            for ms, n, k in self.slowest]}


async def run(args) -> dict:
    # `seed-lsp serve` as editors start it (the CLI sets the latency-bound process up: passive
    # OpenMP threads), in-process: the figures are this server's own latency and RSS, not a daemon's
    cmd = [sys.executable, "-m", "seed_lsp.cli", "serve", "--device", args.device, "--log-level", "warning",
           "--daemon", "off"]
    if args.model:
        cmd += ["--model", args.model]
    client = LanguageClient("seed-lsp-bench", "1")
    await client.start_io(*cmd)
    caps = types.ClientCapabilities(text_document=types.TextDocumentClientCapabilities(
        inline_completion=types.InlineCompletionClientCapabilities()))
    init = {"confidenceFloor": args.floor} if args.floor is not None else {}
    await client.initialize_async(types.InitializeParams(capabilities=caps, initialization_options=init))
    client.initialized(types.InitializedParams())
    text = python_file(args.lines)
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=URI, language_id="python", version=1, text=text)))
    t_load = time.perf_counter()
    status = await _status(client)
    while not status["loaded"] and not status["load_error"]:
        await asyncio.sleep(0.2)
        status = await _status(client)
    if status["load_error"]:
        raise SystemExit(f"seed-lsp bench lsp: model failed to load: {status['load_error']}")
    load_s = time.perf_counter() - t_load

    plan = typing_plan(text.split("\n"), args.keystrokes, args.interval_ms, args.word_pause_ms, args.line_pause_ms)
    tally = Tally()
    inflight: dict[int, asyncio.Future] = {}
    load_before = os.getloadavg()
    bar = _progress(len(plan))
    t_start = next_at = time.perf_counter()
    for n, key in enumerate(plan):
        client.text_document_did_change(_change(n + 2, key))
        for old_id in list(inflight):  # the editor cancels what it no longer wants
            client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id=old_id))
        msg_id = 10_000 + n
        params = types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri=URI), position=types.Position(line=key.line, character=key.cursor),
            context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Automatic))
        sent = time.perf_counter()
        fut = client.protocol.send_request_async(types.TEXT_DOCUMENT_INLINE_COMPLETION, params, msg_id=msg_id)
        inflight[msg_id] = fut
        tally.pauses += key.pause
        fut.add_done_callback(lambda f, m=msg_id, i=n, k=key, s=sent: _finished(inflight, m, tally, i, k, s, f))
        bar.update(1)
        next_at += key.gap_ms / 1e3  # a fixed schedule: a slow reply never slows the typist down
        await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
    bar.close()
    if inflight:
        await asyncio.wait(list(inflight.values()), timeout=30)
    typing_s = time.perf_counter() - t_start
    status = await _status(client)
    rss = server_rss_mb(client._server.pid) if client._server else 0.0
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()
    return {
        "model": status["model"], "device": status["device"], "dtype": status["engine"].get("dtype"),
        "machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(), "date": date.today().isoformat(),
        "load_avg_before": [round(x, 2) for x in load_before], "load_avg_after": [round(x, 2) for x in os.getloadavg()],
        "requests": len(plan), "interval_ms": args.interval_ms, "word_pause_ms": args.word_pause_ms,
        "line_pause_ms": args.line_pause_ms, "typing_s": round(typing_s, 1), **tally.report(),
        "server_rss_mb": round(rss or status["server"]["rss_mb"], 1), "model_load_s": round(load_s, 2),
        "server": status["server"], "engine": status["engine"],
    }


def _finished(inflight: dict, msg_id: int, tally: Tally, n: int, key: Key, sent: float, fut: asyncio.Future) -> None:
    inflight.pop(msg_id, None)
    tally.done(n, key, sent, fut)


async def _status(client) -> dict:
    return await client.workspace_execute_command_async(types.ExecuteCommandParams(command="seed.status"))


def _progress(total: int):
    try:
        from tqdm import tqdm

        return tqdm(total=total, desc="keystrokes", unit="key", file=sys.stderr)
    except ImportError:  # tqdm is a dependency; a bare install still runs
        class _Null:
            def update(self, n): ...
            def close(self): ...
        return _Null()


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="seed-lsp bench lsp", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", metavar="DIR", help="checkpoint directory (default: the embedded model)")
    p.add_argument("--device", default="auto")
    p.add_argument("--json", metavar="OUT", help="write the report here as JSON")
    p.add_argument("--keystrokes", type=int, default=400, help="requests to send (default 400)")
    p.add_argument("--interval-ms", type=float, default=50.0, help="time between keystrokes (default 50)")
    p.add_argument("--word-pause-ms", type=float, default=200.0, help="time to the next key after a word (default 200)")
    p.add_argument("--line-pause-ms", type=float, default=800.0, help="time to the next key at a line's end (default 800)")
    p.add_argument("--lines", type=int, default=200, help="lines in the typed file (default 200)")
    p.add_argument("--floor", type=float, default=None, help="confidenceFloor for the server (default: its own)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(list(sys.argv[1:] if argv is None else argv))
    report = asyncio.run(run(args))
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
