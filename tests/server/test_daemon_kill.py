"""The daemon killed (SIGKILL) mid-request under two real `seed-lsp serve` processes (daemon auto, a
temporary runtime dir): every request in flight is answered (empty completions, fills not applied),
edits made while the daemon is dead or restarting are kept, the next requests restart the daemon
(one, for both servers) and are served by it, and each server's documents are still exactly what
its client holds (checked through the text the last job was built from, and through a fill's edits
applied to the client's copy), and the servers keep answering while the daemon restarts. Below it,
RemoteEngine alone: nothing it does blocks its caller while the daemon is gone."""
from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from lsprotocol import types

from seed_lsp.holes import MARKER
from seed_lsp.positions import LineIndex
from tests.server import lsp_helpers
from tests.server.lsp_helpers import (
    apply_text_edits,
    command,
    inline_params,
    open_doc,
    send,
    status,
    workspace_text_edits,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def runtime_dir():
    base = Path(tempfile.mkdtemp(prefix="sl-kill-", dir="/tmp"))  # short: sun_path holds 107 bytes
    yield base
    sock = base / "seed-lsp" / "daemon.sock"
    subprocess.run([sys.executable, "-m", "seed_lsp.cli", "daemon", "stop", "--socket", str(sock)], cwd=ROOT,
                   capture_output=True, timeout=60)
    try:  # a daemon that did not stop is killed: the suite never leaves one running
        os.kill(int((base / "seed-lsp" / "daemon.sock.pid").read_text().strip()), signal.SIGKILL)
    except (FileNotFoundError, ProcessLookupError, ValueError):
        pass
    shutil.rmtree(base, ignore_errors=True)


class Doc:
    """The client's copy of one open document; every change goes to the server as a range edit."""

    def __init__(self, client, uri: str, text: str) -> None:
        self.client, self.uri, self.text, self.version = client, uri, text, 1
        open_doc(client, uri, text)

    def edit(self, start: int, end: int, new: str) -> None:
        index = LineIndex(self.text)
        (sl, sc), (el, ec) = index.position(start, "utf-16"), index.position(end, "utf-16")
        self.text = self.text[:start] + new + self.text[end:]
        self.version += 1
        self.client.text_document_did_change(types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=self.uri, version=self.version),
            content_changes=[types.TextDocumentContentChangePartial(
                range=types.Range(start=types.Position(line=sl, character=sc), end=types.Position(line=el, character=ec)),
                text=new)]))

    def end_of(self, needle: str) -> tuple[int, int, int]:
        """(offset, line, character) just after the last `needle`."""
        offset = self.text.rindex(needle) + len(needle)
        line, char = LineIndex(self.text).position(offset, "utf-16")
        return offset, line, char

    def ask(self, needle: str):
        _, line, char = self.end_of(needle)
        return send(self.client, types.TEXT_DOCUMENT_INLINE_COMPLETION, inline_params(self.uri, line, char))[1]


async def daemon_pid(client) -> int | None:
    return (await status(client))["engine"].get("pid")


@pytest.mark.asyncio(loop_scope="session")
async def test_daemon_killed_mid_request_two_servers_answer_reconnect_and_keep_documents(runtime_dir, tiny_model_dir):
    env = {k: v for k, v in os.environ.items() if k != "SEED_LSP_DAEMON"}
    env.update(XDG_RUNTIME_DIR=str(runtime_dir), SEED_LSP_DAEMON_IDLE_EXIT="120")
    a, b = await asyncio.gather(lsp_helpers.start(tiny_model_dir, daemon="auto", env=env),
                                lsp_helpers.start(tiny_model_dir, daemon="auto", env=env))
    try:
        a1 = Doc(a, "file:///kill/a1.py", "def add(x, y):\n    return x + y\n\n\ntotal = add(1, 2)\n")
        a2 = Doc(a, "file:///kill/a2.py", f"def mul(x, y):\n    return {MARKER}\n")
        b1 = Doc(b, "file:///kill/b1.py", "import math\n\n\ndef area(r):\n    return math.pi * r\n")
        await a1.ask("add(1, 2)")  # loads; starts the daemon
        await b1.ask("* r")
        sa, sb = await status(a), await status(b)
        assert sa["backend"] == sb["backend"] == "daemon", (sa["load_error"], sb["load_error"])
        pid = sa["engine"]["pid"]
        assert sb["engine"]["pid"] == pid  # one daemon for both

        os.kill(pid, signal.SIGSTOP)  # frozen: what is sent now is surely in flight when it dies
        in_flight = [a1.ask("return x"), b1.ask("math.pi"),
                     asyncio.ensure_future(command(a, "seed.fillHoles", {"uri": a2.uri}))]
        a1.edit(*[a1.end_of("return x + y")[0]] * 2, " * 2")  # edits while the daemon is frozen
        b1.edit(0, 0, "# area of a circle\n")
        await asyncio.sleep(1.0)
        assert not any(f.done() for f in in_flight)
        killed_at = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        done, pending = await asyncio.wait(in_flight, timeout=10)
        assert not pending, "a request in flight was not answered after the daemon died"
        answered_s = time.monotonic() - killed_at
        for f in in_flight[:2]:  # empty (the job failed with the daemon), or stale (edited under it)
            assert f.exception().code in (-32800, -32801) if f.exception() else not (f.result() and f.result().items)
        assert in_flight[2].result() == {"applied": False, "edits": 0, "reason": "error"}

        a1.edit(a1.end_of("total = ")[0], len(a1.text), "add(3, 4)\nprint(total)\n")  # while it restarts
        first_after = [a1.ask("print(total)"), b1.ask("area of a circle")]  # these restart the daemon
        b1.edit(len(b1.text), len(b1.text), "\n\ndef volume(r):\n    return ")
        t0 = time.monotonic()
        await asyncio.gather(status(a), status(b))  # the servers answer while the daemon restarts
        responsive_s = time.monotonic() - t0
        assert responsive_s < 2.0 or all(f.done() for f in first_after), responsive_s
        await asyncio.wait_for(asyncio.gather(*first_after, return_exceptions=True), 180)

        async def restarted() -> bool:  # both servers back on one new daemon
            pids = {await daemon_pid(a), await daemon_pid(b)}
            if len(pids) == 1 and None not in pids and pid not in pids:
                return True
            await a1.ask("print(total)")  # a request is what triggers a reconnect
            await b1.ask("return ")
            return False
        await lsp_helpers.wait_until(restarted, timeout=180, every=0.5)

        for doc, needle in ((a1, "print(total)"), (b1, "def volume(r):\n    return ")):
            await doc.ask(needle)
            job = (await status(doc.client))["last_job"]
            offset = doc.end_of(needle)[0]
            assert job["uri"] == doc.uri and job["prefix_chars"] == len(job["prefix_head"])
            assert doc.text[:offset].endswith(job["prefix_head"]), (doc.text, job)
            assert job["suffix_chars"] == len(doc.text) - offset  # the whole document, as the client holds it

        a.applied.clear()
        reply = await command(a, "seed.fillHoles", {"uri": a2.uri})  # served by the new daemon
        assert reply["holes"] == 1 and reply.get("reason") in (None, "no change"), reply
        if reply.get("applied"):
            (edit,) = a.applied
            new = apply_text_edits(a2.text, workspace_text_edits(edit, a2.uri))
            assert new == a2.text.replace(MARKER, reply["texts"][0]), "the server's copy differs from the client's"
        st = await status(a)
        assert st["engine"]["pid"] != pid and st["engine"]["jobs_done"] >= 1
        print(f"in-flight requests answered {answered_s:.2f}s after SIGKILL, status {responsive_s:.2f}s during "
              f"the restart; daemon {pid} -> {st['engine']['pid']}")
    finally:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, UnboundLocalError):
            pass
        for client in (a, b):
            await lsp_helpers.stop(client)


def test_remote_engine_never_blocks_its_caller_on_a_lost_daemon(tiny_model_dir, monkeypatch):
    """RemoteEngine after its daemon went away: a submit returns at once (the reconnect runs on a
    thread), a failed reconnect resolves what waited to "error" and backs off, stats/encode fail at
    once, the window stays known, a waiting job can be cancelled, and a daemon that comes back is
    used again."""
    import socket as socket_mod

    from runtime import Engine, InfillJob
    from seed_lsp.daemon import client as client_mod
    from seed_lsp.daemon.client import DaemonUnavailable, RemoteEngine
    from tests.server.daemon_helpers import Daemon

    monkeypatch.setattr(client_mod, "RETRY_MIN_S", 0.3)
    base = Path(tempfile.mkdtemp(prefix="sl-", dir="/tmp"))
    sock = base / "run" / "d.sock"
    engine = Engine.load(tiny_model_dir, device="cpu")
    job = InfillJob(prefix="def f(x):\n    return ", suffix="\n", max_tokens=2)
    d = Daemon(engine, sock)
    remote = RemoteEngine(sock, start=False, client_id="editor")
    try:
        assert remote.submit(job).result(timeout=60).stop_reason != "error"
        window = remote.context_tokens(8)
        conn = remote._conn
        d.stop()  # the daemon goes away (its socket with it)
        deadline = time.monotonic() + 10
        while conn.alive:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        t0 = time.monotonic()
        lost = remote.submit(job)
        assert time.monotonic() - t0 < 0.1  # never blocks on the reconnect
        assert lost.result(timeout=10).stop_reason == "error"  # the reconnect failed: no daemon
        assert remote.submit(job).future.done()  # backing off: an error at once
        t0 = time.monotonic()
        with pytest.raises(DaemonUnavailable):
            remote.call("stats")
        assert time.monotonic() - t0 < 0.1
        assert remote.context_tokens(8) == window  # what the hello said is still known

        # a "daemon" that accepts but never says hello: the reconnect takes its time
        listener = socket_mod.socket(socket_mod.AF_UNIX, socket_mod.SOCK_STREAM)
        listener.bind(str(sock))
        listener.listen(8)
        time.sleep(0.7)  # past the backoff
        waiting = remote.submit(job)
        time.sleep(0.2)
        assert not waiting.future.done()  # held for the reconnect
        waiting.cancel()
        assert waiting.result(timeout=1).stop_reason == "cancelled"
        listener.close()
        sock.unlink()

        d = Daemon(engine, sock)  # back
        time.sleep(0.7)
        deadline = time.monotonic() + 30
        while True:  # the silent listener's reconnect ends in a failure first (hello timeout)
            res = remote.submit(job).result(timeout=30)
            if res.stop_reason != "error":
                break
            assert time.monotonic() < deadline
            time.sleep(0.3)
        assert remote.call("stats")["jobs_done"] >= 1
    finally:
        remote.close()
        d.stop()
        engine.close()
        shutil.rmtree(base, ignore_errors=True)
