"""Two real `seed-lsp serve --daemon-socket` servers (pygls client over stdio) share one daemon; the
daemon killed mid-request makes the server answer (empty) and the next request recovers."""
from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from lsprotocol import types
from pygls.lsp.client import LanguageClient

ROOT = Path(__file__).resolve().parents[2]
TEXT = "def add(a, b):\n    return \n"


@pytest.fixture
def sock_path():
    base = Path(tempfile.mkdtemp(prefix="sl-", dir="/tmp"))
    sock = base / "run" / "d.sock"
    yield sock
    try:
        os.kill(int(sock.with_name(sock.name + ".pid").read_text().strip()), signal.SIGKILL)
    except (FileNotFoundError, ProcessLookupError, ValueError):
        pass
    shutil.rmtree(base, ignore_errors=True)


def daemon_status(sock: Path) -> dict:
    out = subprocess.run([sys.executable, "-m", "seed_lsp.cli", "daemon", "status", "--socket", str(sock)],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    return json.loads(out.stdout)


async def start_server(sock: Path, model: Path, name: str) -> LanguageClient:
    client = LanguageClient(name, "0")
    await client.start_io(sys.executable, "-m", "seed_lsp.cli", "serve", "--daemon-socket", str(sock),
                          "--model", str(model), "--device", "cpu", cwd=str(ROOT))
    await client.initialize_async(types.InitializeParams(
        capabilities=types.ClientCapabilities(),
        initialization_options={"maxTokens": 3, "confidenceFloor": 0.0, "mode": "line"},
    ))
    client.initialized(types.InitializedParams())
    uri = f"file:///tmp/{name}.py"
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=uri, language_id="python", version=1, text=TEXT)))
    return client


def ask(client: LanguageClient, name: str, col: int = 11):
    """An inline completion request (a different column each time: the server caches answers)."""
    return client.text_document_inline_completion_async(types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri=f"file:///tmp/{name}.py"),
        position=types.Position(line=1, character=col),
        context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Invoked),
    ))


async def stop_server(client: LanguageClient) -> None:
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()


async def test_two_lsp_servers_share_one_daemon_and_survive_its_death(sock_path, tiny_model_dir):
    a = await start_server(sock_path, tiny_model_dir, "a")
    b = await start_server(sock_path, tiny_model_dir, "b")
    try:
        ra, rb = await ask(a, "a"), await ask(b, "b")
        assert ra is not None and rb is not None
        st = daemon_status(sock_path)
        assert st["running"] and st["models_loaded"] == 1
        assert st["clients_served"] == 2 and st["jobs_done"] >= 2
        pid = st["pid"]

        os.kill(pid, signal.SIGSTOP)  # the next request is surely in flight when the daemon dies
        pending = ask(a, "a", col=10)
        await asyncio.sleep(0.5)
        os.kill(pid, signal.SIGKILL)
        answer = await pending  # the server answers (empty) instead of hanging
        assert answer is None or not answer.items

        recovered = await ask(a, "a", col=4)  # reconnects, restarting the daemon
        assert recovered is not None
        st2 = daemon_status(sock_path)
        assert st2["running"] and st2["pid"] != pid and st2["jobs_done"] >= 1
    finally:
        await stop_server(a)
        await stop_server(b)
