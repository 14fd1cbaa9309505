"""The daemon's per-peer limits (a real DaemonServer and Engine on the tiny checkpoint): requests in
progress capped per client id, connections per client id and per uid, replies written with
backpressure (a client that does not read is dropped), a peer of another uid refused with a log
line (the expected uid moved through the constructor: tests run as one user), and a log file that
rotates and stays bounded whatever bypasses logging."""
from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from seed_lsp.daemon import server as server_mod
from seed_lsp.daemon.limits import Limits
from seed_lsp.daemon.paths import connect_unix
from seed_lsp.daemon.protocol import MAX_FRAME, PROTOCOL_VERSION, encode_frame, read_frame
from tests.server.daemon_helpers import (  # noqa: F401  (engine, sock_path: fixtures)
    Daemon,
    closed_by_peer,
    connect,
    engine,
    settled,
    sock_path,
    served,
    stats,
)

ROOT = Path(__file__).resolve().parents[2]


def test_caps_on_pending_requests_and_connections(engine, sock_path):
    """Requests in progress are capped per client id (across its connections), connections per
    client id and per uid too."""
    d = Daemon(engine, sock_path, max_inflight=1,
               limits=Limits(max_pending=4, max_client_connections=2, max_connections=12))
    try:
        long = dict(prefix="x = ", suffix="", mode="block", max_tokens=64, strategy="one", params={"gap": 64})
        a, b = connect(sock_path, client="greedy"), connect(sock_path, client="greedy")
        for i in range(6):
            (a if i % 2 else b).sendall(encode_frame({"op": "infill", "id": i, "job": long}))
        refused = [m for m in (read_frame(a), read_frame(b)) if not m["ok"]]  # the 5th and 6th, at once
        assert len(refused) == 2 and all("too many requests in progress" in m["error"] for m in refused)
        st = stats(sock_path)
        assert st["jobs_inflight"] + st["jobs_queued"] == 4, st  # one cap for both connections
        third = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        connect_unix(third, sock_path, 10)
        third.sendall(encode_frame({"op": "hello", "v": PROTOCOL_VERSION, "client": "greedy"}))
        answer = read_frame(third)
        assert answer["ok"] is False and "already holds 2 connections" in answer["error"]
        for s in (a, b, third):
            s.close()  # the disconnects cancel what runs
        deadline = time.monotonic() + 10
        while d.server.conns:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        held = [connect(sock_path, client=f"c{i}") for i in range(12)]
        over = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        connect_unix(over, sock_path, 10)
        assert closed_by_peer(over, 5)  # the 13th connection of this uid
        for s in held:
            s.close()
        st = settled(sock_path)
        assert st["refused"] == {"client_connections": 1, "max_connections": 1}, st["refused"]
        assert st["jobs_inflight"] == 0
    finally:
        d.stop()


def test_pending_cap_answers_the_excess_with_errors(engine, sock_path):
    d = Daemon(engine, sock_path, max_inflight=1, limits=Limits(max_pending=4))
    try:
        long = dict(prefix="x = ", suffix="", mode="block", max_tokens=32, strategy="one", params={"gap": 32})
        s = connect(sock_path, client="greedy")
        for i in range(10):
            s.sendall(encode_frame({"op": "infill", "id": i, "job": long}))
        s.settimeout(120)
        replies = {}
        while len(replies) < 10:
            m = read_frame(s)
            replies[m["id"]] = m
        refused = [i for i, m in replies.items() if not m["ok"]]
        assert len(refused) == 6 and all("too many requests in progress" in replies[i]["error"] for i in refused)
        assert all(replies[i]["ok"] for i in range(4))
        s.close()
    finally:
        d.stop()


def test_a_client_that_does_not_read_is_dropped(engine, sock_path):
    """Backpressure: the daemon stops reading a client whose replies pile up unread, and drops it
    when they do not drain in time; an editor is served meanwhile."""
    d = Daemon(engine, sock_path, limits=Limits(write_stall_s=1.0, write_high_water=64 << 10))
    try:
        s = connect(sock_path, client="deaf")
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        text = "value = compute(alpha, beta)\n" * 4000  # ~30k tokens: a reply of ~100 kB
        s.settimeout(5)
        try:
            for i in range(40):
                s.sendall(encode_frame({"op": "encode", "id": i, "text": text}))
        except (socket.timeout, BrokenPipeError, ConnectionResetError):
            pass  # the daemon stopped reading us, then dropped us
        assert served(sock_path) < 5
        deadline = time.monotonic() + 20
        while stats(sock_path)["dropped"].get("slow_reader", 0) < 1:
            assert time.monotonic() < deadline, stats(sock_path)
            time.sleep(0.1)
        s.close()
    finally:
        d.stop()


def test_unread_replies_past_the_write_buffer_drop_the_client(engine, sock_path, monkeypatch):
    """Infill replies arrive whether the client reads or not: past max_write_buffer it is dropped."""
    big = {"text": "x" * (3 << 20), "texts": [""], "tokens": 1, "steps": 1, "stop_reason": "budget",
           "confidence": 0.0, "timings": {}}
    monkeypatch.setattr(server_mod, "result_to_map", lambda res: big)
    d = Daemon(engine, sock_path, limits=Limits(max_write_buffer=MAX_FRAME + 1, write_stall_s=60))
    try:
        s = connect(sock_path, client="deaf")
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        for i in range(5):
            s.sendall(encode_frame({"op": "infill", "id": i,
                                    "job": {"prefix": "x = ", "suffix": "\n", "max_tokens": 1}}))
        # Dropped for its buffer, or (on a loaded machine, where the 5 replies trickle out slower than
        # the stall limit) for not reading: either way a deaf client never pins the daemon's memory.
        deadline = time.monotonic() + 90
        while sum(stats(sock_path)["dropped"].get(k, 0) for k in ("write_buffer", "slow_reader")) < 1:
            assert time.monotonic() < deadline, stats(sock_path)
            time.sleep(0.1)
        s.close()
    finally:
        d.stop()


def test_peer_of_another_uid_is_refused_with_a_log_line(engine, sock_path, caplog):
    me = os.geteuid()
    d = Daemon(engine, sock_path, allowed_uid=me + 1)  # tests run as one user: move the expected uid
    try:
        with caplog.at_level(logging.WARNING, logger="seed_lsp.daemon"):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            connect_unix(s, sock_path, 10)
            try:
                s.sendall(encode_frame({"op": "hello", "v": PROTOCOL_VERSION, "client": "intruder"}))
            except (BrokenPipeError, ConnectionResetError):
                pass
            assert closed_by_peer(s, 5)  # no hello reply: not a byte is read from it
            s.close()
            time.sleep(0.1)
        assert d.server.refused["peer_uid"] == 1 and not d.server.conns
        assert any(f"refused a connection from uid {me}" in r.getMessage() and f"serves uid {me + 1} only"
                   in r.getMessage() for r in caplog.records), [r.getMessage() for r in caplog.records]
    finally:
        d.stop()


LOG_SCRIPT = """
import logging, sys
from seed_lsp.daemon.logfile import log_to_file
h = log_to_file(sys.argv[1], "INFO", max_bytes=20000)
log = logging.getLogger("seed_lsp.daemon")
for i in range(3000):
    log.warning("a peer made me log line %d %s", i, "x" * 40)
    if i % 100 == 0:
        print("stray stdout", "y" * 500)
        sys.stderr.write("stray stderr " + "z" * 500 + "\\n")
sys.stderr.write("z" * 30000)  # bypasses logging: caught by check()
h.check()
log.warning("last line")
raise SystemExit("a traceback-free exit message")
"""


def test_daemon_log_is_rotated_and_bounded(tmp_path):
    log = tmp_path / "d.sock.log"
    out = subprocess.run([sys.executable, "-c", LOG_SCRIPT, str(log)], cwd=ROOT, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 1 and out.stdout == "" and out.stderr == ""  # all of it went to the file
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["d.sock.log", "d.sock.log.1"]
    assert all((tmp_path / f).stat().st_size <= 20000 + 31000 for f in files)
    text = log.read_text()
    assert "last line" in text and "a traceback-free exit message" in text
    assert oct(log.stat().st_mode & 0o777) == "0o600"
