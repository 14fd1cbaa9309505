"""Seeded JSON-RPC fuzzing of the real server (`python -m seed_lsp.serve`, tiny model, stdio).

A few thousand framed-but-hostile messages: wrong param types, null/array/scalar params, huge,
negative and surrogate-splitting positions, unknown methods with and without params or id,
notification methods sent with an id, the empty method, ids of every type, duplicate ids, cancels for
unknown ids, unopened URIs, didChange with bogus and inverted ranges and version regressions,
invalid JSON and non-UTF-8 bodies with a correct Content-Length, a second initialize, requests
before initialize, a 50 MB request and a 70 MB one (over the 64 MiB limit).

Checked: every request (an object with a string method and an integer or string id) gets exactly one
reply, with the expected error code where one is defined; the server's copy of each document equals
the shadow copy this test keeps (seed.document after every edit, applying the rules of
seed_lsp/sync.py as written here independently); the server lives and answers a normal request
afterwards; shutdown + exit -> exit code 0. SEED_FUZZ_MESSAGES / SEED_FUZZ_SEED scale a long run.
"""
from __future__ import annotations

import asyncio
import json
import os
import random
import sys
import time

import pytest

from tests.server.lsp_helpers import FAST_OPTIONS

N_MESSAGES = int(os.environ.get("SEED_FUZZ_MESSAGES", "2500"))
SEED = int(os.environ.get("SEED_FUZZ_SEED", "15"))
BIG = 2**31 - 1
URIS = ["file:///fuzz/a.py", "file:///fuzz/with%20space.py", "file:///fuzz/emoji.py"]
TEXTS = ["def f(x):\n    return x + 1\n\n", "s = '😀é中'\r\nt = 1\rprint(s)\x0cu = 2\u2028v = 3\n",
         "a😀b😀c\n\t\n😀\n", ""]


# --- the client's own copy: LSP line ends, clamping, surrogates round down, inverted ranges ------
def line_starts(text: str) -> list[int]:
    starts, i = [0], 0
    while i < len(text):
        step = 2 if text.startswith("\r\n", i) else 1
        if text[i] in "\r\n":
            starts.append(i + step)
        i += step
    return starts


def ref_offset(text: str, line: int, char: int) -> int:
    starts = line_starts(text)
    if line >= len(starts):
        return len(text)
    start = starts[line]
    end = starts[line + 1] if line + 1 < len(starts) else len(text)
    while end > start and text[end - 1] in "\r\n":
        end -= 1
    units = 0
    for k in range(start, end):
        width = 2 if ord(text[k]) > 0xFFFF else 1
        if units + width > char:
            return k
        units += width
    return end


def ref_apply(text: str, change: dict) -> str:
    if "range" not in change:
        return change["text"]
    r = change["range"]
    a = ref_offset(text, r["start"]["line"], r["start"]["character"])
    b = ref_offset(text, r["end"]["line"], r["end"]["character"])
    a, b = min(a, b), max(a, b)
    return text[:a] + change["text"] + text[b:]


# --- a raw client ---------------------------------------------------------------------------------
def frame(body) -> bytes:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return b"Content-Length: %d\r\n\r\n%s" % (len(data), data)


def key(msg_id) -> str:
    return json.dumps(msg_id)


class Raw:
    def __init__(self, proc) -> None:
        self.proc = proc
        self.replies: dict[str, list[dict]] = {}
        self.changed = asyncio.Event()
        self.reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        out = self.proc.stdout
        while True:
            length = None
            while True:
                line = await out.readline()
                if not line:
                    return
                if not line.strip():
                    break
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            msg = json.loads(await out.readexactly(length))
            if "method" in msg and "id" in msg:  # the server asks us: decline edits, no settings
                result = {"applied": False} if msg["method"] == "workspace/applyEdit" else None
                self.write({"jsonrpc": "2.0", "id": msg["id"], "result": result})
            elif "id" in msg:
                self.replies.setdefault(key(msg["id"]), []).append(msg)
                self.changed.set()

    def write(self, body) -> None:
        self.proc.stdin.write(frame(body))

    async def wait_for(self, ids, timeout: float) -> None:
        end = time.monotonic() + timeout
        while any(key(i) not in self.replies for i in ids) and time.monotonic() < end:
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), max(0.01, end - time.monotonic()))
            except asyncio.TimeoutError:
                pass

    async def call(self, msg_id, method, params=None, timeout: float = 60.0) -> dict:
        self.write({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params})
        await self.proc.stdin.drain()
        await self.wait_for([msg_id], timeout)
        return self.replies[key(msg_id)][-1]


# --- the generator --------------------------------------------------------------------------------
class Fuzz:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.ids = iter(range(10_000, 10**9))
        self.shadow: dict[str, tuple[int, str]] = {}
        self.expect: dict[str, tuple[int, int | None]] = {}  # id -> (replies, error code or None)
        self.checks: dict[str, tuple[str, tuple[int, str] | None]] = {}  # seed.document id -> expected
        self.sent = 0

    def new_id(self):
        r = self.rng.random()
        n = next(self.ids)
        return f"s{n}" if r < 0.2 else (n * 10**21 if r < 0.25 else -n if r < 0.3 else n)

    def pos(self, hostile: bool = True) -> dict:
        r = self.rng
        pick = [r.randint(0, 6), r.randint(0, 40), BIG, 0]
        line, char = r.choice(pick), r.choice(pick + [1, 2, 3])  # 1..3 land inside "a😀b"
        if hostile and r.random() < 0.1:
            return r.choice([{"line": -1, "character": 0}, {"line": 2**40, "character": 0}, {"line": "x"},
                             {"line": 1.5, "character": None}, None, [], "0:0"])
        return {"line": line, "character": char}

    def uri(self):
        r = self.rng.random()
        return self.rng.choice(URIS) if r < 0.85 else self.rng.choice(["file:///nope.py", 5, None, "", "x" * 300])

    def request(self, out, method, params, code=None, id_=None, replies=1):
        msg_id = self.new_id() if id_ is None else id_
        out.append({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params})
        n, _ = self.expect.get(key(msg_id), (0, None))
        self.expect[key(msg_id)] = (n + replies, code)
        return msg_id

    def check_doc(self, out, uri) -> None:
        msg_id = self.request(out, "workspace/executeCommand", {"command": "seed.document", "arguments": [{"uri": uri}]})
        self.checks[key(msg_id)] = (uri, self.shadow.get(uri))

    def edit(self, out) -> None:
        r = self.rng
        uri = r.choice(URIS)
        if uri not in self.shadow or r.random() < 0.05:
            text = r.choice(TEXTS)
            out.append({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument": {
                "uri": uri, "languageId": "python", "version": r.randint(0, 5), "text": text}}})
            self.shadow[uri] = (out[-1]["params"]["textDocument"]["version"], text)
        elif r.random() < 0.05:
            out.append({"jsonrpc": "2.0", "method": "textDocument/didClose", "params": {"textDocument": {"uri": uri}}})
            self.shadow.pop(uri)
        else:
            version, text = self.shadow[uri]
            changes = []
            for _ in range(r.randint(1, 3)):
                if r.random() < 0.1:
                    changes.append({"text": r.choice(TEXTS)})
                else:
                    ins = r.choice(["", "x", "😀", "\n", "\r\n", "\r", "é中", "\ud800", "  pass\n", "\x0c"])
                    changes.append({"range": {"start": self.pos(hostile=r.random() < 0.05), "end": self.pos(False)},
                                    "text": ins})
            new_version = version + 1 if r.random() < 0.8 else r.randint(-3, version)
            out.append({"jsonrpc": "2.0", "method": "textDocument/didChange", "params": {
                "textDocument": {"uri": uri, "version": new_version}, "contentChanges": changes}})
            positions = [p for c in changes if "range" in c for p in c["range"].values()]
            if all(isinstance(p, dict) and all(type(v) is int and 0 <= v <= BIG for v in p.values())
                   and len(p) == 2 for p in positions):
                for c in changes:
                    text = ref_apply(text, c)
                self.shadow[uri] = (new_version, text)
        self.check_doc(out, uri)

    def hostile(self, out) -> None:
        r = self.rng
        kind = r.randrange(14)
        td = {"uri": self.uri()}
        if kind == 0:
            method = r.choice(["textDocument/inlineCompletion", "textDocument/completion"])
            params = r.choice([{"textDocument": td, "position": self.pos(),
                                "context": {"triggerKind": r.choice([1, 2, 9, "x"])}},
                               {"textDocument": td, "position": self.pos()}, None, [], "x", 5, {}])
            recent = [k for k in list(self.expect)[-20:] if k not in self.checks]
            if r.random() < 0.1 and recent:  # a duplicate id, maybe still in flight
                self.request(out, method, params, id_=json.loads(r.choice(recent)))
            else:
                msg_id = self.request(out, method, params)
                if r.random() < 0.3:
                    out.append({"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": msg_id}})
        elif kind == 1:
            self.request(out, "textDocument/codeAction", r.choice([
                {"textDocument": td, "range": {"start": self.pos(), "end": self.pos()}, "context": {"diagnostics": []}},
                {"textDocument": td}, None]))
        elif kind == 2:
            cmd = r.choice(["seed.status", "seed.fillSelection", "seed.fillHoles", "seed.document", "nope", "", 7])
            args = r.choice([[{"uri": self.uri(), "range": {"start": self.pos(), "end": self.pos()}}],
                             [{"uri": self.uri()}], [], None, [None], ["x", 1], [[]], {"a": 1}])
            self.request(out, "workspace/executeCommand", {"command": cmd, "arguments": args})
        elif kind == 3:  # notification methods with an id: a request, answered -32601, not applied
            method = r.choice(["textDocument/didOpen", "textDocument/didChange", "textDocument/didClose",
                               "initialized", "exit", "$/cancelRequest", "$/setTrace", "textDocument/didSave",
                               "workspace/didChangeConfiguration"])
            self.request(out, method, r.choice([{"textDocument": {"uri": URIS[0]}, "contentChanges": [{"text": ""}]},
                                                None, {"id": 1}]), code=-32601)
        elif kind == 4:  # unknown methods, the empty method, with and without params
            method = r.choice(["seed/unknown", "$/unknown", "", "textDocument/hover", "foo" * 50])
            msg = {"jsonrpc": "2.0", "id": 0, "method": method}
            if r.random() < 0.5:
                msg["params"] = r.choice([None, {}, [1], "p"])
            msg_id = self.request([], "", None, code=-32601)
            out.append(dict(msg, id=msg_id))
        elif kind == 5:  # unknown or request methods without an id: no reply
            out.append({"jsonrpc": "2.0", "method": r.choice(["seed/unknown", "$/x", "textDocument/inlineCompletion",
                                                               "shutdown", ""]), "params": r.choice([None, {}])})
        elif kind == 6:  # ids of other types: dropped, no reply
            out.append({"jsonrpc": "2.0", "id": r.choice([None, 1.5, True, {}, [1]]), "method": "shutdown"})
        elif kind == 7:  # not JSON-RPC 2.0
            msg_id = self.request([], "", None, code=-32600)
            out.append(r.choice([{"id": msg_id, "method": "shutdown"}, {"jsonrpc": "1.0", "id": msg_id, "method": "x"},
                                 {"jsonrpc": "2.0", "id": msg_id, "method": 5}]))
        elif kind == 8:  # cancels for unknown ids, malformed cancels
            out.append({"jsonrpc": "2.0", "method": "$/cancelRequest",
                        "params": r.choice([{"id": r.randint(0, 10**6)}, {"id": "nope"}, {"id": None}, {}, None])})
        elif kind == 9:  # invalid JSON / not UTF-8 / not an object, with a correct Content-Length
            out.append(r.choice([b"{", b'{"jsonrpc": "2.0", "id": 1, "method":', b"\xff\xfe\x00", b"[]", b"5",
                                 b'"x"', b"null", b'{"id": 1}' * 3, b"", b" " * 100]))
        elif kind == 10:  # a second initialize
            self.request(out, "initialize", {"capabilities": {}}, code=-32600)
        elif kind == 11:  # responses to nothing
            out.append({"jsonrpc": "2.0", "id": r.randint(0, 99), "result": None})
        elif kind == 12:
            self.request(out, "textDocument/inlineCompletion",
                         {"textDocument": {"uri": r.choice(URIS)}, "position": self.pos(False),
                          "context": {"triggerKind": 2}})
        else:
            self.request(out, "workspace/executeCommand", {"command": "seed.status"})

    def batch(self) -> list:
        out: list = []
        (self.edit if self.rng.random() < 0.3 else self.hostile)(out)
        self.sent += len(out)
        return out


async def start_server(model_dir, stderr):
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "seed_lsp.serve", "--model", str(model_dir), "--device", "cpu", "--daemon", "off",
        "--log-level", "error", stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=stderr,
        limit=2**20)


@pytest.mark.timeout(180 + N_MESSAGES // 20)
async def test_fuzzed_messages_all_answered_documents_identical_server_alive(tiny_model_dir, tmp_path):
    started = time.monotonic()
    with open(tmp_path / "stderr.txt", "wb") as err:
        proc = await start_server(tiny_model_dir, err)
        raw = Raw(proc)
        fz = Fuzz(random.Random(SEED))
        # before initialize: requests -32002, notifications ignored
        early = await raw.call("early", "textDocument/inlineCompletion", {})
        assert early["error"]["code"] == -32002
        init = await raw.call(1, "initialize", {"capabilities": {"general": {"positionEncodings": ["utf-16"]}},
                                                "initializationOptions": dict(FAST_OPTIONS, workspaceContext=False)})
        assert "result" in init
        raw.write({"jsonrpc": "2.0", "method": "initialized", "params": {}})
        raw.write({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument": {
            "uri": "file:///fuzz/warm.py", "languageId": "python", "version": 1, "text": "x = "}}})
        assert "result" in await raw.call("warm", "textDocument/inlineCompletion", {  # waits for the model
            "textDocument": {"uri": "file:///fuzz/warm.py"}, "position": {"line": 0, "character": 4},
            "context": {"triggerKind": 2}})
        status0 = (await raw.call(2, "workspace/executeCommand", {"command": "seed.status"}))["result"]

        while fz.sent < N_MESSAGES:
            for msg in fz.batch():
                raw.write(msg)
            await proc.stdin.drain()
            pending = sum(1 for k in fz.expect if k not in raw.replies)
            if pending > 40:
                await raw.wait_for([json.loads(k) for k in fz.expect][-40:-20], timeout=30)
        await raw.wait_for([json.loads(k) for k in fz.expect], timeout=90)
        status_mid = (await raw.call("mid", "workspace/executeCommand", {"command": "seed.status"}))["result"]
        # the two big ones: 50 MB inside the limit (answered), 70 MB over it (skipped, answered -32600)
        big = fz.request([], "workspace/executeCommand", None)
        raw.write({"jsonrpc": "2.0", "id": big, "method": "workspace/executeCommand",
                   "params": {"command": "seed.status", "arguments": [{"pad": "x" * (50 * 2**20)}]}})
        huge = fz.request([], "", None, code=-32600)
        raw.write(b'{"jsonrpc": "2.0", "id": ' + json.dumps(huge).encode() + b', "method": "workspace/executeCommand", '
                  b'"params": {"command": "seed.status", "arguments": ["' + b"y" * (70 * 2**20) + b'"]}}')
        await proc.stdin.drain()
        await raw.wait_for([json.loads(k) for k in fz.expect], timeout=90)
        await asyncio.sleep(1.0)  # a second reply to anything would arrive by now

        unanswered = [k for k in fz.expect if k not in raw.replies]
        wrong_count = {k: len(raw.replies.get(k, [])) for k, (n, _) in fz.expect.items()
                       if k in raw.replies and len(raw.replies[k]) != n}
        wrong_code = {k: raw.replies[k][0].get("error") for k, (_, code) in fz.expect.items()
                      if code is not None and k in raw.replies and raw.replies[k][0].get("error", {}).get("code") != code}
        extra = [k for k in raw.replies if k not in fz.expect and k not in ('"early"', "1", "2", '"mid"', '"warm"')]
        mismatched = []
        for k, (uri, expected) in fz.checks.items():
            got = raw.replies.get(k, [{}])[0].get("result")
            have = None if got is None else (got["version"], got["text"])
            if have != expected:
                mismatched.append((uri, expected, have))
        internal = [k for k, rs in raw.replies.items() if any(r.get("error", {}).get("code") == -32603 for r in rs)]

        # still alive, still serving
        assert proc.returncode is None
        status1 = (await raw.call("after", "workspace/executeCommand", {"command": "seed.status"}))["result"]
        raw.write({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument": {
            "uri": "file:///fuzz/final.py", "languageId": "python", "version": 1, "text": "def g(y):\n    return "}}})
        final = await raw.call("final", "textDocument/inlineCompletion", {
            "textDocument": {"uri": "file:///fuzz/final.py"}, "position": {"line": 1, "character": 11},
            "context": {"triggerKind": 2}})
        assert "result" in final, final
        # and cancelling still works: a request cancelled right after it was sent answers -32800
        raw.write({"jsonrpc": "2.0", "id": "long", "method": "textDocument/inlineCompletion", "params": {
            "textDocument": {"uri": "file:///fuzz/final.py"}, "position": {"line": 1, "character": 10},
            "context": {"triggerKind": 2}}})
        raw.write({"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": "long"}})
        await proc.stdin.drain()
        await raw.wait_for(["long"], timeout=30)
        assert raw.replies['"long"'][0]["error"]["code"] == -32800, raw.replies.get('"long"')
        assert (await raw.call("bye", "shutdown"))["result"] is None
        raw.write({"jsonrpc": "2.0", "method": "exit"})
        await proc.stdin.drain()
        code = await asyncio.wait_for(proc.wait(), 60)
    requests = len(fz.expect)
    print(f"\nfuzz: {fz.sent} messages, {requests} requests, {len(fz.checks)} document checks, "
          f"{len(unanswered)} unanswered, {len(internal)} internal errors, RSS {status0['server']['rss_mb']} -> "
          f"{status_mid['server']['rss_mb']} MB (-> {status1['server']['rss_mb']} MB after the 50 and 70 MB "
          f"messages), exit {code}, {time.monotonic() - started:.1f} s")
    assert not unanswered, unanswered[:20]
    assert not wrong_count, list(wrong_count.items())[:20]
    assert not wrong_code, list(wrong_code.items())[:20]
    assert not extra, extra[:20]
    assert not mismatched, mismatched[:3]
    assert not internal, [raw.replies[k] for k in internal[:5]]
    assert code == 0
