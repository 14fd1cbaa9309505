"""The daemon under ill-typed requests and hostile hellos (a real DaemonServer and Engine on the tiny
checkpoint): a bad request is answered with an error naming the field and fails alone, every
inflight slot frees on every path (error, disconnect, cancel), client ids are capped and the ids
remembered are bounded, and the daemon serves on afterwards."""
from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest

from runtime import InfillJob
from seed_lsp.daemon import server as server_mod
from seed_lsp.daemon.client import RemoteEngine
from seed_lsp.daemon.protocol import MAX_CLIENT_ID, PROTOCOL_VERSION, encode_frame, read_frame
from tests.server.test_daemon import InProcessDaemon, closed_by_peer, raw_connect, short_job

from tests.server.daemon_helpers import NORMAL, engine, sock_path  # noqa: F401  (shared fixtures)


@pytest.fixture
def daemon(engine, sock_path):
    d = InProcessDaemon(engine, sock_path)
    yield d
    d.stop()


def _hello(path: Path, client) -> tuple[socket.socket, dict]:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(str(path))
    s.sendall(encode_frame({"op": "hello", "v": PROTOCOL_VERSION, "client": client}))
    return s, read_frame(s)


def _settled(daemon: InProcessDaemon, timeout: float = 30.0) -> dict:
    """Stats once no job is inflight or queued (the daemon's own view, read on its loop's thread
    through a control connection)."""
    control = RemoteEngine(daemon.server.socket_path, start=False, client_id="probe", role="control")
    try:
        deadline = time.monotonic() + timeout
        while True:
            st = control.call("stats")
            if (st["jobs_inflight"], st["jobs_queued"]) == (0, 0) or time.monotonic() > deadline:
                return st
            time.sleep(0.02)
    finally:
        control.close()


def _normal_and_bad_together(sock_path: Path, bad_job: dict, rounds: int = 5) -> list[str]:
    """`rounds` times: a normal job from one client and `bad_job` from another, sent together."""
    normal = RemoteEngine(sock_path, start=False, client_id="normal")
    bad = raw_connect(sock_path)  # hello as "raw"
    errors = []
    try:
        for i in range(rounds):
            go = threading.Barrier(2)
            sent: dict = {}

            def send_normal(i=i):
                go.wait()
                sent["h"] = normal.submit(short_job(max_tokens=4, key=f"doc{i}"))

            t = threading.Thread(target=send_normal)
            t.start()
            go.wait()
            bad.sendall(encode_frame({"op": "infill", "id": i, "job": bad_job}))
            reply = read_frame(bad)  # answered, promptly (the socket's timeout is 10 s)
            t.join(10)
            assert reply["id"] == i and reply["ok"] is False, reply
            errors.append(reply["error"])
            assert sent["h"].result(timeout=60).stop_reason in NORMAL
    finally:
        normal.close()
        bad.close()
    return errors


def test_ill_typed_job_beside_a_normal_one(daemon, sock_path):
    """The fuzz's find: {"prefix": 5} next to another client's job failed that job, was never
    answered, and left 7 of 8 jobs_inflight slots taken after everyone left."""
    errors = _normal_and_bad_together(sock_path, {"prefix": 5})
    assert all("'prefix'" in e for e in errors), errors
    st = _settled(daemon)
    assert st["jobs_inflight"] == 0 and st["jobs_queued"] == 0
    again = RemoteEngine(sock_path, start=False, client_id="after")
    assert again.submit(short_job()).result(timeout=60).stop_reason in NORMAL
    again.close()


def test_bad_job_that_reaches_the_engine_fails_alone_and_frees_its_slot(daemon, engine, sock_path, monkeypatch):
    """Defence in depth: with the daemon's and the engine's checks switched off, the ill-typed job
    fails inside the engine's batch; it alone is answered with the error, and its slot frees."""
    def unchecked(data):
        job = InfillJob()
        for name, value in data.items():
            setattr(job, name, value)
        return job

    monkeypatch.setattr(server_mod, "job_from_map", unchecked)
    monkeypatch.setattr(engine, "validate", lambda job: None)
    errors = _normal_and_bad_together(sock_path, {"prefix": 5}, rounds=3)
    assert len(errors) == 3
    st = _settled(daemon)
    assert st["jobs_inflight"] == 0 and st["jobs_queued"] == 0


@pytest.mark.parametrize("msg, named", [
    ({"op": "infill", "job": {"params": {"tau": "oops"}}}, "tau"),
    ({"op": "infill", "job": {"max_tokens": "8"}}, "max_tokens"),
    ({"op": "infill", "job": {"segments": ["a", None]}}, "segments"),
    ({"op": "infill", "job": {"strategy": "nope"}}, "unknown strategy"),
    ({"op": "infill", "job": {"max_tokens": 10 ** 12}}, "max_tokens"),
    ({"op": "infill", "job": "prefix"}, "'job'"),
    ({"op": "infill"}, "'job'"),
    ({"op": "cancel", "target": [1]}, "'target'"),
    ({"op": "encode", "text": 5}, "'text'"),
    ({"op": "decode", "ids": "abc"}, "'ids'"),
    ({"op": "decode", "ids": [1, -5]}, "'ids'"),
    ({"op": ["infill"]}, "'op'"),
])
def test_ill_typed_requests_get_an_error_naming_the_field(daemon, sock_path, msg, named):
    s = raw_connect(sock_path)
    try:
        s.sendall(encode_frame({**msg, "id": 3}))
        reply = read_frame(s)
        assert reply["id"] == 3 and reply["ok"] is False and named in reply["error"], reply
        s.sendall(encode_frame({"op": "encode", "id": 4, "text": "x"}))  # the connection stays
        assert read_frame(s)["ok"] is True
    finally:
        s.close()
    assert _settled(daemon)["jobs_inflight"] == 0


def test_slots_free_on_disconnect_and_cancel(daemon, sock_path):
    long = dict(prefix="x = ", suffix="", mode="block", max_tokens=200, strategy="one", params={"gap": 200})
    s = raw_connect(sock_path)
    for i in range(3):  # unkeyed: only the disconnect can stop them
        s.sendall(encode_frame({"op": "infill", "id": i, "job": long}))
    s.sendall(encode_frame({"op": "infill", "id": 9, "job": long}))
    s.sendall(encode_frame({"op": "cancel", "id": 10, "target": 9}))
    replies = {}
    while 9 not in replies or 10 not in replies:
        m = read_frame(s)
        replies[m["id"]] = m
    assert replies[10]["result"] is True and replies[9]["result"]["stop_reason"] == "cancelled"
    s.close()  # three jobs still running: the disconnect cancels them
    st = _settled(daemon)
    assert st["jobs_inflight"] == 0 and st["jobs_queued"] == 0


def test_long_client_id_is_refused_and_the_daemon_serves_on(daemon, sock_path):
    for client in ("x" * (MAX_CLIENT_ID + 1), "y" * (4 << 20), 5, ["a"]):
        s, reply = _hello(sock_path, client)
        assert reply["ok"] is False and "'client'" in reply["error"], reply
        assert closed_by_peer(s)
        s.close()
    s, reply = _hello(sock_path, "z" * MAX_CLIENT_ID)  # at the cap: accepted
    assert reply["ok"] is True
    s.close()
    seen = daemon.server.clients_seen
    assert all(len(c) <= MAX_CLIENT_ID for c in seen)
    ok = RemoteEngine(sock_path, start=False, client_id="editor")
    assert ok.submit(short_job()).result(timeout=60).stop_reason in NORMAL
    ok.close()


def test_clients_remembered_are_bounded_and_still_counted(engine, sock_path, monkeypatch):
    monkeypatch.setattr(server_mod, "MAX_CLIENTS_SEEN", 4)
    d = InProcessDaemon(engine, sock_path)
    try:
        for i in range(10):
            s, reply = _hello(sock_path, f"client-{i}")
            assert reply["ok"] is True
            s.close()
        s, _ = _hello(sock_path, "client-9")  # a recent id again: not a new client
        s.close()
        assert len(d.server.clients_seen) == 4
        assert _settled(d)["clients_served"] == 10
    finally:
        d.stop()
