"""`seed-lsp bench lsp`: drive the real server like a person typing, report what the editor feels.

    seed-lsp bench lsp [--model DIR] [--device D] [--json OUT] [--keystrokes N] [--interval-ms 50]

Starts `seed-lsp serve` as a subprocess (stdio), opens a 200-line Python file, and retypes lines of
it one character at a time: a didChange and an inline completion request every `interval` ms,
cancelling the previous request if it is still in flight (as VS Code and Neovim do). Reports the
p50/p95 latency of answered requests (sent -> reply), how many were cancelled (by the client or
superseded / made stale by the server), items shown, and the server's RSS. Not a test: numbers only.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pygls.lsp.client import LanguageClient

from seed_lsp.server import percentile

URI = "file:///bench/typing.py"


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


def server_rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _change(version: int, line: int, col: int, text: str, end_col: int | None = None):
    rng = types.Range(start=types.Position(line=line, character=col),
                      end=types.Position(line=line, character=col if end_col is None else end_col))
    return types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=URI, version=version),
        content_changes=[types.TextDocumentContentChangePartial(range=rng, text=text)])


async def run(args) -> dict:
    # in-process: the figures are this server's own latency and RSS, not a shared daemon's
    cmd = [sys.executable, "-m", "seed_lsp.serve", "--device", args.device, "--log-level", "warning", "--daemon", "off"]
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
    lines = text.split("\n")
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

    latencies: list[float] = []
    outcome = {"answered": 0, "items": 0, "cancelled": 0, "errors": 0}
    inflight: dict[int, tuple[float, asyncio.Future]] = {}

    def done(msg_id: int, sent: float, fut: asyncio.Future) -> None:
        inflight.pop(msg_id, None)
        if fut.cancelled():
            outcome["cancelled"] += 1
            return
        exc = fut.exception()
        if isinstance(exc, JsonRpcException) and exc.code in (-32800, -32801):
            outcome["cancelled"] += 1
        elif exc is not None:
            outcome["errors"] += 1
        else:
            outcome["answered"] += 1
            latencies.append((time.perf_counter() - sent) * 1e3)
            items = getattr(fut.result(), "items", None) or []
            outcome["items"] += bool(items)

    targets = [i for i, ln in enumerate(lines) if ln.strip()][:: max(1, args.lines // 40)]
    version, sent_n, msg_ids = 1, 0, iter(range(10_000, 10**9))
    bar = _progress(args.keystrokes)
    for line_no in targets:
        line = lines[line_no]
        version += 1
        client.text_document_did_change(_change(version, line_no, 0, "", len(line)))  # clear the line
        for col, ch in enumerate(line):
            if sent_n >= args.keystrokes:
                break
            version += 1
            client.text_document_did_change(_change(version, line_no, col, ch))
            for old_id in list(inflight):  # the editor cancels what it no longer wants
                client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id=old_id))
            msg_id = next(msg_ids)
            params = types.InlineCompletionParams(
                text_document=types.TextDocumentIdentifier(uri=URI), position=types.Position(line=line_no, character=col + 1),
                context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Automatic))
            sent = time.perf_counter()
            fut = client.protocol.send_request_async(types.TEXT_DOCUMENT_INLINE_COMPLETION, params, msg_id=msg_id)
            inflight[msg_id] = (sent, fut)
            fut.add_done_callback(lambda f, m=msg_id, s=sent: done(m, s, f))
            sent_n += 1
            bar.update(1)
            await asyncio.sleep(args.interval_ms / 1e3)
        if sent_n >= args.keystrokes:
            break
    bar.close()
    if inflight:
        await asyncio.wait([f for _, f in inflight.values()], timeout=30)
    status = await _status(client)
    rss = server_rss_mb(client._server.pid) if client._server else 0.0
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()
    return {
        "requests": sent_n, "interval_ms": args.interval_ms, **outcome,
        "latency_ms": {"p50": round(percentile(latencies, 50), 1), "p95": round(percentile(latencies, 95), 1),
                       "mean": round(sum(latencies) / len(latencies), 1) if latencies else 0.0},
        "server_rss_mb": round(rss or status["server"]["rss_mb"], 1), "model_load_s": round(load_s, 2),
        "model": status["model"], "device": status["device"], "engine": status["engine"],
    }


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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="seed-lsp bench lsp", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", metavar="DIR", help="checkpoint directory (default: the embedded model)")
    p.add_argument("--device", default="auto")
    p.add_argument("--json", metavar="OUT", help="write the report here as JSON")
    p.add_argument("--keystrokes", type=int, default=400, help="requests to send (default 400, ~20 s)")
    p.add_argument("--interval-ms", type=float, default=50.0, help="time between keystrokes (default 50)")
    p.add_argument("--lines", type=int, default=200, help="lines in the typed file (default 200)")
    p.add_argument("--floor", type=float, default=None, help="confidenceFloor for the server (default: its own)")
    args = p.parse_args(list(sys.argv[1:] if argv is None else argv))
    report = asyncio.run(run(args))
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
