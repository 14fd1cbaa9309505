"""The workstation daemon with a real Engine (tiny checkpoint): protocol robustness, fairness,
latest-wins, socket privacy, CLI status/stop. An in-process DaemonServer serves most tests; the
process-level tests (spawn, sharing, kill mid-request) are in test_daemon_process.py."""
from __future__ import annotations

import asyncio
import json
import os
import socket
import stat
import struct
import tempfile
import threading
from pathlib import Path

import msgpack
import pytest

from runtime import Engine, InfillJob
from seed_lsp.daemon import cli
from seed_lsp.daemon.client import RemoteEngine, connect_or_start
from seed_lsp.daemon.paths import UnsafePathError, ensure_private_dir
from seed_lsp.daemon.protocol import MAX_FRAME, PROTOCOL_VERSION, encode_frame, read_frame
from seed_lsp.daemon.server import DaemonServer

NOBODY = 65534


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


class InProcessDaemon:
    """A real DaemonServer on its own event-loop thread, set up the way `seed-lsp daemon` does."""

    def __init__(self, engine, sock: Path, max_inflight: int = 8) -> None:
        ensure_private_dir(sock.parent, fix_modes=False)
        self.server = DaemonServer(engine, sock, model="tiny", device="cpu", max_inflight=max_inflight)
        ready = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self.server.run(ready=ready.set)), daemon=True)
        self.thread.start()
        assert ready.wait(30)

    def stop(self) -> None:
        self.server.stop()
        self.thread.join(10)
        assert not self.thread.is_alive()


@pytest.fixture
def daemon(engine, sock_path):
    d = InProcessDaemon(engine, sock_path)
    yield d
    d.stop()


def short_job(**kw) -> InfillJob:
    return InfillJob(prefix="def f(x):\n    return ", suffix="\n", max_tokens=kw.pop("max_tokens", 3), **kw)


def raw_connect(path: Path, hello: bool = True) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(str(path))
    if hello:
        s.sendall(encode_frame({"op": "hello", "v": PROTOCOL_VERSION, "client": "raw"}))
        assert read_frame(s)["ok"] is True
    return s


def closed_by_peer(s: socket.socket) -> bool:
    try:
        return s.recv(1) == b""
    except ConnectionResetError:
        return True


def test_remote_infill_stats_and_tokenizer(daemon, engine, sock_path):
    remote = connect_or_start(sock_path, start=False)
    assert remote is not None
    res = remote.submit(short_job()).result(timeout=60)
    assert res.stop_reason in ("budget", "eos", "pad", "eol") and res.steps >= 1
    assert res.text == res.texts[0]
    ids = remote.tokenizer.encode("def f(x):")
    assert ids == engine.tokenizer.encode("def f(x):")
    assert remote.tokenizer.decode(ids) == "def f(x):"
    st = remote.stats()
    assert st["pid"] == os.getpid() and st["protocol"] == PROTOCOL_VERSION
    assert st["jobs_done"] >= 1 and st["clients_served"] == 1 and st["models_loaded"] == 1
    remote.close()


def test_garbage_truncated_and_oversized_frames_close_only_that_connection(daemon, sock_path):
    good = RemoteEngine(sock_path, start=False)
    good.connect()
    garbage = raw_connect(sock_path)
    garbage.sendall(struct.pack(">I", 5) + b"\xc1\xc1\xc1\xc1\xc1")  # 0xc1 is never valid msgpack
    oversized = raw_connect(sock_path)
    oversized.sendall(struct.pack(">I", MAX_FRAME + 1) + b"x" * 64)
    not_a_map = raw_connect(sock_path)
    body = msgpack.packb([1, 2, 3])
    not_a_map.sendall(struct.pack(">I", len(body)) + body)
    no_hello = raw_connect(sock_path, hello=False)
    no_hello.sendall(encode_frame({"op": "stats", "id": 1}))
    truncated = raw_connect(sock_path)
    truncated.sendall(struct.pack(">I", 100) + b"\x81")
    truncated.shutdown(socket.SHUT_WR)
    for s in (garbage, oversized, not_a_map, no_hello, truncated):
        assert closed_by_peer(s)
        s.close()
    # an invalid request that is still a valid frame gets an error answer, connection kept
    bad_req = raw_connect(sock_path)
    bad_req.sendall(encode_frame({"op": "infill", "id": 7, "job": {"prefix": "a", "bogus": 1}}))
    bad_req.sendall(encode_frame({"op": "nope", "id": 8}))
    answers = {m["id"]: m for m in (read_frame(bad_req), read_frame(bad_req))}
    assert answers[7]["ok"] is False and "bogus" in answers[7]["error"]
    assert answers[8]["ok"] is False
    bad_req.close()
    # the client never sends an oversized frame: that job fails alone, the connection stays
    huge = good.submit(InfillJob(prefix="x" * (MAX_FRAME + 1), suffix=""))
    assert huge.result(timeout=5).stop_reason == "error"
    # the daemon lives on and the well-behaved client is still served on its old connection
    assert good.submit(short_job()).result(timeout=60).stop_reason != "error"
    assert good.stats()["bad_frames"] == 5
    good.close()


def test_socket_0600_and_dir_0700_despite_umask(engine, sock_path):
    old = os.umask(0)  # a permissive umask must not leak into the socket's modes
    try:
        d = InProcessDaemon(engine, sock_path)
    finally:
        os.umask(old)
    try:
        assert stat.S_IMODE(os.stat(sock_path.parent).st_mode) == 0o700
        assert stat.S_ISSOCK(os.stat(sock_path).st_mode)
        assert stat.S_IMODE(os.stat(sock_path).st_mode) == 0o600
    finally:
        d.stop()
    assert not sock_path.exists()  # removed on stop


def test_refuses_directory_owned_by_another_user(sock_path, capsys):
    sock_path.parent.mkdir(mode=0o700)
    os.chown(sock_path.parent, NOBODY, NOBODY)
    assert cli.main(["--socket", str(sock_path)]) == 2
    assert "owned by uid 65534" in capsys.readouterr().err
    with pytest.raises(UnsafePathError):
        RemoteEngine(sock_path, start=False).connect()
    assert connect_or_start(sock_path, start=True, timeout=5) is None  # falls back, never hangs
    assert not sock_path.exists()


def test_refuses_loose_named_directory_and_foreign_socket(sock_path):
    sock_path.parent.mkdir(mode=0o755)
    os.chmod(sock_path.parent, 0o755)
    with pytest.raises(UnsafePathError, match="accessible by other users"):
        ensure_private_dir(sock_path.parent, fix_modes=False)
    ensure_private_dir(sock_path.parent, fix_modes=True)  # the default directory is repaired
    assert stat.S_IMODE(os.stat(sock_path.parent).st_mode) == 0o700
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(sock_path))
    stale.close()  # a socket file nobody listens on: stale
    os.chown(sock_path, NOBODY, NOBODY)
    with pytest.raises(UnsafePathError, match="owned by uid"):
        cli.remove_stale_socket(sock_path)
    os.chown(sock_path, 0, 0)
    cli.remove_stale_socket(sock_path)
    assert not sock_path.exists()
    sock_path.write_text("not a socket")
    with pytest.raises(UnsafePathError, match="not a socket"):
        cli.remove_stale_socket(sock_path)


def test_fair_queue_one_flood_does_not_starve_another_client(engine, sock_path):
    d = InProcessDaemon(engine, sock_path, max_inflight=1)
    flood, quiet = RemoteEngine(sock_path, start=False, client_id="flood"), RemoteEngine(sock_path, start=False, client_id="quiet")
    try:
        order: list[str] = []
        lock = threading.Lock()

        def track(name):
            def cb(_):
                with lock:
                    order.append(name)
            return cb

        flood.connect(), quiet.connect()  # both connected first: a slow hello must not look like starvation
        handles = []
        for i in range(6):
            # one token a step: each flood job runs for several steps, so quiet's request (sent right
            # after) is surely queued while flood0 runs, even on a loaded machine
            h = flood.submit(short_job(key=f"file{i}", max_tokens=6, strategy="one"))
            h.future.add_done_callback(track(f"flood{i}"))
            handles.append(h)
        q = quiet.submit(short_job(key="file0", max_tokens=2))  # same key as flood's: no interference
        q.future.add_done_callback(track("quiet"))
        assert q.result(timeout=120).stop_reason != "cancelled"
        for h in handles:
            assert h.result(timeout=120).stop_reason != "error"
        # admission is round-robin with one slot: quiet runs right after flood's first job
        assert order.index("quiet") <= 2, order
    finally:
        flood.close(), quiet.close()
        d.stop()


def test_latest_wins_per_client_and_key_and_cancel(engine, sock_path):
    d = InProcessDaemon(engine, sock_path, max_inflight=1)
    a = RemoteEngine(sock_path, start=False, client_id="a")
    try:
        blocker = a.submit(short_job(key="other", max_tokens=16))
        old = a.submit(short_job(key="doc", max_tokens=2))  # queued behind the blocker...
        new = a.submit(short_job(key="doc", max_tokens=2))  # ...and superseded by this one
        assert old.result(timeout=60).stop_reason == "cancelled"
        cancelled = a.submit(short_job(key="third", max_tokens=2))
        cancelled.cancel()
        assert cancelled.result(timeout=60).stop_reason == "cancelled"
        assert new.result(timeout=60).stop_reason != "cancelled"
        assert blocker.result(timeout=60).stop_reason != "cancelled"
    finally:
        a.close()
        d.stop()


def test_cli_status_and_stop(daemon, sock_path, capsys):
    assert cli.main(["status", "--socket", str(sock_path)]) == 0
    st = json.loads(capsys.readouterr().out)
    for field in ("pid", "model", "device", "clients_served", "jobs_done", "uptime_s", "protocol"):
        assert field in st
    assert st["running"] is True and st["pid"] == os.getpid()
    assert cli.main(["stop", "--socket", str(sock_path)]) == 0
    daemon.thread.join(10)
    assert not daemon.thread.is_alive() and not sock_path.exists()
    assert cli.main(["status", "--socket", str(sock_path)]) == 1
    assert json.loads(capsys.readouterr().out)["running"] is False
    daemon.server.stop()  # the fixture's stop() is then a no-op


def test_idle_exit_only_once_no_editor_is_connected(engine, sock_path):
    ensure_private_dir(sock_path.parent, fix_modes=False)
    server = DaemonServer(engine, sock_path, model="tiny", device="cpu", idle_exit_s=0.4)
    ready = threading.Event()
    thread = threading.Thread(target=lambda: asyncio.run(server.run(ready=ready.set)), daemon=True)
    thread.start()
    assert ready.wait(30)
    editor = RemoteEngine(sock_path, start=False, client_id="editor")
    assert editor.submit(short_job()).result(timeout=60).stop_reason != "error"
    control = RemoteEngine(sock_path, start=False, client_id="cli-status", role="control")
    assert control.call("stats")["idle_exit_s"] == 0.4
    thread.join(1.5)
    assert thread.is_alive()  # an editor is connected (a control connection alone would not count)
    editor.close()
    thread.join(10)  # the editor left: stops by itself, socket removed
    control.close()
    assert not thread.is_alive() and not sock_path.exists()
