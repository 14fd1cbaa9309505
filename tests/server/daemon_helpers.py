"""What the daemon tests share: a tiny Engine, a short socket path, a DaemonServer on its own event-loop
thread with the limits under test, and raw-socket helpers (connect riding out a full backlog, wait
for the daemon to close a socket, stats through a control connection, time an editor to be served)."""
from __future__ import annotations

import asyncio
import socket
import tempfile
import threading
import time
from pathlib import Path

import pytest

from runtime import Engine, InfillJob
from seed_lsp.daemon.client import RemoteEngine
from seed_lsp.daemon.paths import connect_unix, ensure_private_dir
from seed_lsp.daemon.protocol import PROTOCOL_VERSION, encode_frame, read_frame
from seed_lsp.daemon.server import DaemonServer

NORMAL = ("eos", "pad", "eol", "budget")


@pytest.fixture(scope="module")
def engine(tiny_model_dir):
    eng = Engine.load(tiny_model_dir, device="cpu")
    yield eng
    eng.close()


@pytest.fixture
def sock_path():
    base = Path(tempfile.mkdtemp(prefix="sl-", dir="/tmp"))  # short: sun_path holds 107 bytes
    yield base / "run" / "d.sock"
    import shutil

    shutil.rmtree(base, ignore_errors=True)


class Daemon:
    """A real DaemonServer on its own event-loop thread, with the limits under test."""

    def __init__(self, engine, sock: Path, **kw) -> None:
        ensure_private_dir(sock.parent, fix_modes=False)
        kw.setdefault("max_inflight", 8)
        self.server = DaemonServer(engine, sock, model="tiny", device="cpu", **kw)
        ready = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self.server.run(ready=ready.set)), daemon=True)
        self.thread.start()
        assert ready.wait(30)

    def stop(self) -> None:
        self.server.stop()
        self.thread.join(10)
        assert not self.thread.is_alive()


def connect(path: Path, client: str | None = "fuzz", timeout: float = 10.0) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    connect_unix(s, path, timeout)  # a burst of connects can fill the listen backlog for a moment
    if client is not None:
        s.sendall(encode_frame({"op": "hello", "v": PROTOCOL_VERSION, "client": client}))
        assert read_frame(s)["ok"] is True
    return s


def closed_by_peer(s: socket.socket, timeout: float = 10.0) -> bool:
    """True once the daemon has closed `s` (replies before the close are read and dropped)."""
    s.settimeout(timeout)
    try:
        while s.recv(65536):
            pass
        return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def stats(path: Path) -> dict:
    control = RemoteEngine(path, start=False, client_id="probe", role="control")
    try:
        return control.call("stats")
    finally:
        control.close()


def settled(path: Path, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        st = stats(path)
        if (st["jobs_inflight"], st["jobs_queued"]) == (0, 0) or time.monotonic() > deadline:
            return st
        time.sleep(0.05)


def served(path: Path, client: str = "editor") -> float:
    """Seconds for a fresh editor to connect and get a short completion."""
    t0 = time.perf_counter()
    ok = RemoteEngine(path, start=False, client_id=client)
    try:
        res = ok.submit(InfillJob(prefix="def f(x):\n    return ", suffix="\n", max_tokens=2)).result(timeout=60)
        assert res.stop_reason in NORMAL, res
    finally:
        ok.close()
    return time.perf_counter() - t0
