"""The scripted person of `seed-lsp bench soak`, and the tally of what each request got.

Person(client, name, tally, args, seed) drives one language server like an editor with a person at
it: open documents (the client's copies are the truth; every change goes out as a versioned
didChange), typing statements a key at a time into new lines (Enter keeps the indentation), an inline
completion request per key with the previous one cancelled ($/cancelRequest), backspacing words,
pasting blocks, trimming a document that grew too long, fill selection and hole fills (the server's
workspace/applyEdit is applied to the client's copy as an editor does, or refused when it names an
older version), and seed.status now and then. The person waits for a command's reply up to
`patience_s`, then types on (a late fill then finds its document changed). Everything is drawn
from one seeded Random.

Tally records every request (kind, when sent, when answered, how) and summarises them by kind and
per time bucket: an inline completion is "completed" when answered with a result, "cancelled" when
answered -32800 / -32801 (cancelled by us, superseded or made stale by the server); a fill whose
job failed (reason "error") counts as an error, one refused because the document changed as
cancelled; "unanswered" is what has no reply when the report is made.
"""
from __future__ import annotations

import asyncio
import itertools
import math
import random
import time
from dataclasses import dataclass

from lsprotocol import types
from pygls.exceptions import JsonRpcException

from runtime.stats import percentile
from seed_lsp.bench_lsp import python_file
from seed_lsp.holes import MARKER
from seed_lsp.positions import LineIndex

CANCELLED = (-32800, -32801)
MAX_LINES = 300
_ids = itertools.count(1)


@dataclass
class Req:
    kind: str
    sent: float
    fut: asyncio.Future
    done: float | None = None
    outcome: str | None = None


def _outcome(kind: str, fut: asyncio.Future) -> str:
    if fut.cancelled():
        return "cancelled"
    exc = fut.exception()
    if exc is not None:
        return "cancelled" if isinstance(exc, JsonRpcException) and exc.code in CANCELLED else "errors"
    res = fut.result()
    if kind.startswith("fill") and isinstance(res, dict) and not res.get("applied"):
        reason = str(res.get("reason", ""))
        return "errors" if reason == "error" else "cancelled" if "changed" in reason else "completed"
    return "completed"


def _ms(values: list[float]) -> dict:
    return {q: round(percentile(values, int(q[1:])), 1) for q in ("p50", "p95", "p99")}


class Tally:
    def __init__(self) -> None:
        self.reqs: list[Req] = []
        self.edits = 0  # didChange notifications
        self.applied = 0  # workspace edits applied to the client's copy
        self.refused = 0  # workspace edits naming an older version

    def track(self, kind: str, fut: asyncio.Future) -> Req:
        req = Req(kind, time.monotonic(), fut)
        self.reqs.append(req)

        def done(f: asyncio.Future) -> None:
            req.done, req.outcome = time.monotonic(), _outcome(kind, f)
        fut.add_done_callback(done)
        return req

    def outstanding(self) -> list[asyncio.Future]:
        return [r.fut for r in self.reqs if r.done is None]

    @staticmethod
    def _summary(reqs: list[Req]) -> dict:
        out = {"requests": len(reqs), "completed": 0, "cancelled": 0, "errors": 0, "unanswered": 0}
        for r in reqs:
            out[r.outcome or "unanswered"] += 1
        return out

    @staticmethod
    def _latencies(reqs: list[Req], fill: bool) -> list[float]:
        return [(r.done - r.sent) * 1e3 for r in reqs
                if r.outcome == "completed" and r.kind.startswith("fill") == fill and r.kind != "status"]

    def report(self, t0: float, duration: float, bucket_s: float, samples: list[dict]) -> dict:
        """Totals, and buckets of `bucket_s` over `duration` (the last one may be shorter; requests
        sent after the end, the person's last keys, count in it)."""
        kinds = sorted({r.kind for r in self.reqs})
        totals = {**self._summary(self.reqs), "answered": sum(r.done is not None for r in self.reqs),
                  "by_kind": {k: self._summary([r for r in self.reqs if r.kind == k]) for k in kinds},
                  "edits": self.edits, "workspace_edits_applied": self.applied, "workspace_edits_refused": self.refused,
                  "latency_ms": {"inline": _ms(self._latencies(self.reqs, False)),
                                 "fill": _ms(self._latencies(self.reqs, True))}}
        n = max(1, math.ceil(duration / bucket_s - 1e-9))
        by_bucket: list[list[Req]] = [[] for _ in range(n)]
        for r in self.reqs:
            by_bucket[min(n - 1, max(0, int((r.sent - t0) // bucket_s)))].append(r)
        buckets = []
        for i, reqs in enumerate(by_bucket):
            end = min(duration, (i + 1) * bucket_s)
            sample = min(samples, key=lambda s: abs(s["t"] - end), default={})
            buckets.append({"t_end_s": round(end, 1), "seconds": round(end - i * bucket_s, 1), **self._summary(reqs),
                            "inline_ms": _ms(self._latencies(reqs, False)), "fill_ms": _ms(self._latencies(reqs, True)),
                            "daemon_rss_mb": sample.get("daemon_rss_mb", 0.0),
                            "servers_rss_mb": sample.get("servers_rss_mb", []), "load_avg_1m": sample.get("load_1m")})
        return {"totals": totals, "buckets": buckets}


class Doc:
    """The client's copy of one open document."""

    def __init__(self, person: "Person", uri: str, text: str) -> None:
        self.person, self.uri, self.text, self.version = person, uri, text, 1
        person.client.text_document_did_open(types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri, language_id="python", version=1, text=text)))

    def pos(self, offset: int, index: LineIndex | None = None) -> types.Position:
        line, char = (index or LineIndex(self.text)).position(offset, "utf-16")
        return types.Position(line=line, character=char)

    def change(self, spans: list[tuple[int, int, str]]) -> None:
        """Apply (start, end, text) spans of the current text (non-overlapping) and send them."""
        changes = []
        for start, end, new in sorted(spans, key=lambda s: -s[0]):  # later first: earlier ranges stay valid
            index = LineIndex(self.text)
            rng = types.Range(start=self.pos(start, index), end=self.pos(end, index))
            changes.append(types.TextDocumentContentChangePartial(range=rng, text=new))
            self.text = self.text[:start] + new + self.text[end:]
        self.version += 1
        self.person.tally.edits += 1
        self.person.client.text_document_did_change(types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=self.uri, version=self.version),
            content_changes=changes))

    def line_spans(self) -> list[tuple[int, int]]:
        spans, start = [], 0
        for line in self.text.split("\n"):
            spans.append((start, start + len(line)))
            start += len(line) + 1
        return spans


class Person:
    def __init__(self, client, name: str, tally: Tally, args, seed: int) -> None:
        self.client, self.name, self.tally, self.args = client, name, tally, args
        self.rng = random.Random(seed)
        self.docs: list[Doc] = []
        self.statements = [ln.strip() for ln in python_file(200).split("\n") if ln.strip()]
        self.inline: tuple[int, asyncio.Future] | None = None
        client.feature(types.WORKSPACE_APPLY_EDIT)(lambda params: self._apply_edit(params))

    def open_files(self, n: int) -> None:
        for i in range(n):
            lines = python_file(40 + 20 * i).split("\n")
            self.docs.append(Doc(self, f"file:///soak/{self.name}/mod{i}.py", "\n".join(lines)))

    # ------------------------------------------------------------- requests
    def _send(self, kind: str, method: str, params) -> tuple[int, asyncio.Future]:
        msg_id = next(_ids)
        fut = self.client.protocol.send_request_async(method, params, msg_id=msg_id)
        self.tally.track(kind, fut)
        return msg_id, fut

    def _complete_at(self, doc: Doc, offset: int) -> None:
        if self.inline is not None and not self.inline[1].done():  # the editor cancels what it no longer wants
            self.client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id=self.inline[0]))
        params = types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri=doc.uri), position=doc.pos(offset),
            context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Automatic))
        self.inline = self._send("inline", types.TEXT_DOCUMENT_INLINE_COMPLETION, params)

    async def _command(self, kind: str, name: str, arg: dict) -> dict | None:
        _, fut = self._send(kind, types.WORKSPACE_EXECUTE_COMMAND,
                            types.ExecuteCommandParams(command=name, arguments=[arg] if arg else []))
        try:  # a person waits for a command, up to their patience; the reply is tallied whenever it comes
            return await asyncio.wait_for(asyncio.shield(fut), self.args.patience_s)
        except Exception:  # an error reply, or a late one
            return None

    def _apply_edit(self, params: types.ApplyWorkspaceEditParams) -> types.ApplyWorkspaceEditResult:
        for dc in params.edit.document_changes or []:
            doc = next((d for d in self.docs if d.uri == dc.text_document.uri), None)
            if doc is None or (dc.text_document.version is not None and dc.text_document.version != doc.version):
                self.tally.refused += 1  # an editor refuses an edit of a version it no longer holds
                return types.ApplyWorkspaceEditResult(applied=False, failure_reason="stale version")
            index = LineIndex(doc.text)
            spans = [(index.offset(e.range.start.line, e.range.start.character, "utf-16"),
                      index.offset(e.range.end.line, e.range.end.character, "utf-16"), e.new_text) for e in dc.edits]
            doc.change(spans)
        self.tally.applied += 1
        return types.ApplyWorkspaceEditResult(applied=True)

    # ------------------------------------------------------------- actions
    async def run(self, until: float) -> None:
        self._next_at = time.monotonic()
        for n in itertools.count():
            if time.monotonic() >= until:
                return
            doc = self.docs[(n // 2) % len(self.docs)]
            await self.type_statement(doc, until)
            if n % 3 == 1:
                await self.fill_holes(doc)
            if n % 4 == 2:
                await self.fill_selection(doc)
            if n % 5 == 3:
                await self.backspace_word(doc, until)
            if n % 7 == 5:
                self.paste(doc)
            if n % 10 == 9:
                await self._command("status", "seed.status", {})
            self.trim(doc)

    async def _wait(self, gap_ms: float) -> None:
        self._next_at = max(self._next_at + gap_ms / 1e3, time.monotonic() - 1.0)  # a fixed cadence
        await asyncio.sleep(max(0.0, self._next_at - time.monotonic()))

    async def type_statement(self, doc: Doc, until: float) -> None:
        lines = doc.line_spans()
        start, end = lines[self.rng.randrange(len(lines))]
        above = doc.text[start:end]
        indent = len(above) - len(above.lstrip()) + (4 if above.rstrip().endswith(":") else 0)
        doc.change([(end, end, "\n" + " " * indent)])  # Enter
        cursor = end + 1 + indent
        self._complete_at(doc, cursor)
        await self._wait(self.args.interval_ms)
        stmt = self.rng.choice(self.statements)
        for i, ch in enumerate(stmt):
            if time.monotonic() >= until:
                return
            doc.change([(cursor, cursor, ch)])
            cursor += 1
            self._complete_at(doc, cursor)
            last = i == len(stmt) - 1
            await self._wait(self.args.line_pause_ms if last else
                             self.args.word_pause_ms if ch == " " else self.args.interval_ms)

    async def backspace_word(self, doc: Doc, until: float) -> None:
        lines = [s for s in doc.line_spans() if doc.text[s[0]:s[1]].strip()]
        start, end = self.rng.choice(lines)
        word = len(doc.text[start:end]) - len(doc.text[start:end].rstrip(" ").rsplit(" ", 1)[0])
        for _ in range(min(word, end - start)):
            if time.monotonic() >= until:
                return
            doc.change([(end - 1, end, "")])
            end -= 1
            self._complete_at(doc, end)
            await self._wait(self.args.interval_ms)

    def paste(self, doc: Doc) -> None:
        start, _ = self.rng.choice(doc.line_spans())
        block = "\n".join(self.rng.choice(self.statements) for _ in range(self.rng.randrange(3, 7))) + "\n"
        doc.change([(start, start, block)])
        self._complete_at(doc, start + len(block))

    def trim(self, doc: Doc) -> None:
        lines = doc.line_spans()
        if len(lines) > MAX_LINES:
            cut = self.rng.randrange(10, len(lines) - 60)
            doc.change([(lines[cut][0], lines[cut + 40][0], "")])

    def _assignments(self, doc: Doc) -> list[tuple[int, int]]:
        """(start, end) of the right-hand sides of `name = value` lines."""
        out = []
        for start, end in doc.line_spans():
            line = doc.text[start:end]
            at = line.find(" = ")
            if at > 0 and end - start - at > 4 and MARKER not in line:
                out.append((start + at + 3, end))
        return out

    async def fill_selection(self, doc: Doc) -> None:
        spans = self._assignments(doc)
        if not spans:
            return
        start, end = self.rng.choice(spans)
        index = LineIndex(doc.text)
        rng = {"start": _pos(doc.pos(start, index)), "end": _pos(doc.pos(end, index))}
        await self._command("fill_selection", "seed.fillSelection", {"uri": doc.uri, "range": rng})

    async def fill_holes(self, doc: Doc) -> None:
        spans = self._assignments(doc)
        if not spans:
            return
        start, end = self.rng.choice(spans)
        doc.change([(start, end, MARKER)])
        await self._command("fill_holes", "seed.fillHoles", {"uri": doc.uri})
        left = [(i, i + len(MARKER), "None") for i in _find_all(doc.text, MARKER)]
        if left:  # not filled (no change, a failed job, a refused edit): the person types something
            doc.change(left)


def _pos(p: types.Position) -> dict:
    return {"line": p.line, "character": p.character}


def _find_all(text: str, needle: str) -> list[int]:
    out, at = [], text.find(needle)
    while at >= 0:
        out.append(at)
        at = text.find(needle, at + len(needle))
    return out
