"""Seeded fuzz of the daemon's socket (a real DaemonServer and Engine on the tiny checkpoint): hostile
bytes and frames close only their own connection, every request that decodes gets exactly one reply,
silent connections cannot keep an editor out, and stalled peers time out. SEED_LSP_FUZZ_SEED /
SEED_LSP_FUZZ_N change the seed and the number of hostile frames. The per-peer limits (caps,
backpressure, the uid check, the bounded log) are tested in test_daemon_limits.py."""
from __future__ import annotations

import os
import random
import socket
import struct

import msgpack
import pytest

from runtime import InfillJob
from seed_lsp.daemon.client import RemoteEngine
from seed_lsp.daemon.limits import Limits
from seed_lsp.daemon.paths import connect_unix
from seed_lsp.daemon.protocol import MAX_FRAME, encode_frame, read_frame
from tests.server.daemon_helpers import (  # noqa: F401  (engine, sock_path: fixtures)
    NORMAL,
    Daemon,
    closed_by_peer,
    connect,
    engine,
    settled,
    sock_path,
    served,
    stats,
)

SEED = int(os.environ.get("SEED_LSP_FUZZ_SEED", "15"))
N = int(os.environ.get("SEED_LSP_FUZZ_N", "300"))


# ---------------------------------------------------------------- generators (all from one Random)

def frame(body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + body


def deep(depth: int, leaf=None):
    for _ in range(depth):
        leaf = [leaf]
    return leaf


def weird(rng: random.Random, depth: int = 0):
    """A value of any msgpack type, often the wrong one for the field it lands in."""
    pick = rng.randrange(14)
    if pick == 0:
        return None
    if pick == 1:
        return rng.choice([True, False])
    if pick == 2:
        return rng.choice([0, -1, 1, 3, 2 ** 31, 2 ** 63 - 1, -(2 ** 63), 2 ** 64 - 1])
    if pick == 3:
        return rng.choice([0.5, -1e308, float("inf"), float("nan")])
    if pick == 4:
        return "".join(chr(rng.choice([0, 0x41, 0xE9, 0x1F600, 0xFFFD, 0x0A])) for _ in range(rng.randrange(12)))
    if pick == 5:
        return rng.randbytes(rng.randrange(16))
    if pick == 6:
        return msgpack.Timestamp(rng.randrange(2 ** 32), rng.randrange(10 ** 9))
    if pick == 7:
        return "x" * rng.choice([200, 5000, 300_000])
    if pick == 8 and depth < 3:
        return [weird(rng, depth + 1) for _ in range(rng.randrange(4))]
    if pick == 9 and depth < 3:
        return {str(weird(rng, 3))[:20]: weird(rng, depth + 1) for _ in range(rng.randrange(4))}
    if pick == 10:
        return deep(rng.choice([50, 500, 900]))  # msgpack nests at most 1024 deep (deeper: hostile_bytes)
    if pick == 11:
        return rng.choice(["infill", "cancel", "stats", "encode", "decode", "hello", "stop ", ""])
    return rng.randrange(-5, 50)


JOB_FIELDS = ("prefix", "suffix", "mode", "max_tokens", "strategy", "params", "segments", "gap_tokens", "key",
              "deadline_s", "preamble", "bogus")


def hostile_request(rng: random.Random, rid) -> dict:
    """A map that decodes: a request with some fields missing, extra or of the wrong type. Never
    "stop" (that one is obeyed) and never a job the tiny model would run for long."""
    op = rng.choice(["infill"] * 4 + ["cancel", "stats", "encode", "decode", "hello", "nope", None, 7])
    msg: dict = {"op": op} if op is not None else {}
    if rid is not None:
        msg["id"] = rid
    if op == "infill" and rng.random() < 0.8:
        job = {"prefix": "def f(x):\n    return ", "suffix": "\n", "max_tokens": rng.randrange(1, 4)}
        for _ in range(rng.randrange(3)):
            job[rng.choice(JOB_FIELDS)] = weird(rng)  # ints are small (they run) or huge (refused)
        msg["job"] = job if rng.random() < 0.9 else weird(rng)
    else:
        for field in rng.sample(["job", "target", "text", "ids", "client", "v"], rng.randrange(3)):
            msg[field] = weird(rng)
        if op == "decode" and rng.random() < 0.5:
            msg["ids"] = [rng.randrange(-3, 300) for _ in range(rng.randrange(20))]
        if op == "encode" and rng.random() < 0.5:
            msg["text"] = "x = 1\n" * rng.randrange(1, 2000)
    return msg


def hostile_bytes(rng: random.Random) -> tuple[str, bytes, bool]:
    """(kind, bytes, then half-close): something that is not a valid frame of a map."""
    kind = rng.choice(["random", "truncated", "huge_length", "zero_length", "not_a_map", "depth_bomb", "ext",
                       "garbage_msgpack", "trailing"])
    if kind == "random":
        return kind, rng.randbytes(rng.randrange(1, 4096)), rng.random() < 0.5
    if kind == "truncated":
        whole = encode_frame(hostile_request(rng, 1))
        return kind, whole[:rng.randrange(1, len(whole))], True
    if kind == "huge_length":
        n = rng.choice([MAX_FRAME + 1, 2 ** 32 - 1, rng.randrange(MAX_FRAME + 1, 2 ** 32)])
        return kind, struct.pack(">I", n) + rng.randbytes(rng.randrange(64)), False
    if kind == "zero_length":
        return kind, struct.pack(">I", 0), False
    if kind == "not_a_map":
        value = rng.choice([[1, 2], 5, "op", b"\x00", None, 1.5, True, deep(5)])
        return kind, frame(msgpack.packb(value)), False
    if kind == "depth_bomb":
        n = rng.choice([1025, 5000, 200_000])
        return kind, frame(b"\x81\xa1a" + b"\x91" * n + b"\xc0"), False
    if kind == "ext":
        value = {"op": "infill", "id": 1, "job": {"prefix": msgpack.ExtType(rng.randrange(0, 128), rng.randbytes(8))}}
        return kind, frame(msgpack.packb(value)), False
    if kind == "garbage_msgpack":
        return kind, frame(bytes([0xC1]) + rng.randbytes(rng.randrange(8))), False
    return kind, frame(msgpack.packb({"op": "stats", "id": 1}) + b"\x00"), False  # trailing bytes


# ---------------------------------------------------------------- tests

def test_hostile_bytes_close_only_their_connection(engine, sock_path):
    """N connections, each sending something that is not a frame of a map (before or after its
    hello): each is closed by the daemon, which counts it, while an editor is served throughout."""
    rng = random.Random(SEED)
    d = Daemon(engine, sock_path)
    editor = RemoteEngine(sock_path, start=False, client_id="editor")
    kinds: dict[str, int] = {}
    try:
        editor.connect()
        for i in range(N):
            kind, data, half_close = hostile_bytes(rng)
            kinds[kind] = kinds.get(kind, 0) + 1
            s = connect(sock_path, client=f"h{i}" if rng.random() < 0.5 else None)
            try:
                s.sendall(data)
                if half_close:
                    s.shutdown(socket.SHUT_WR)
            except (BrokenPipeError, ConnectionResetError):
                pass  # already closed by the daemon: fine
            assert closed_by_peer(s), (i, kind, data[:40])
            s.close()
            if i % 50 == 0:
                job = InfillJob(prefix="x = ", suffix="\n", max_tokens=2, key="doc")
                assert editor.submit(job).result(timeout=60).stop_reason in NORMAL
        st = settled(sock_path)
        assert st["bad_frames"] >= N * 0.9, (st["bad_frames"], kinds)  # pre-hello random bytes may be a short frame
        assert st["jobs_inflight"] == 0 and st["jobs_queued"] == 0
        assert served(sock_path) < 5
    finally:
        editor.close()
        d.stop()
    print(f"hostile connections: {N}, kinds: {kinds}")


def test_every_request_that_decodes_gets_exactly_one_reply(engine, sock_path):
    """Maps of the wrong shape (missing, extra and ill-typed fields, timestamps, deep nesting, huge
    strings, bad ids): each gets exactly one reply with its id (a bad id: one reply with id None),
    the connection stays open, and no slot stays taken."""
    rng = random.Random(SEED + 1)
    d = Daemon(engine, sock_path, max_inflight=4)
    try:
        total = {"requests": 0, "ok": 0, "errors": 0, "bad_ids": 0}
        for conn_no in range(6):
            s = connect(sock_path, client=f"shape{conn_no}")
            expected: dict = {}
            bad_ids = 0
            for i in range(N // 3):
                rid = rng.choice([f"c{conn_no}-{i}", conn_no * 10_000 + i] * 6 +
                                 [None, 1.5, True, [1], {"a": 1}, "x" * 200, msgpack.Timestamp(1, 0)])
                msg = hostile_request(rng, rid)
                valid_id = isinstance(rid, (int, str)) and not isinstance(rid, bool) and len(str(rid)) <= 128
                if valid_id:
                    expected[rid] = expected.get(rid, 0) + 1
                else:
                    bad_ids += 1
                s.sendall(encode_frame(msg))
            got: dict = {}
            got_none = 0
            s.settimeout(60)
            while sum(got.values()) < sum(expected.values()) or got_none < bad_ids:
                reply = read_frame(s)
                assert reply is not None and set(reply) <= {"id", "ok", "result", "error"}, reply
                if reply["id"] is None:
                    got_none += 1
                else:
                    got[reply["id"]] = got.get(reply["id"], 0) + 1
                    total["ok" if reply["ok"] else "errors"] += 1
            s.settimeout(0.3)
            with pytest.raises(socket.timeout):
                read_frame(s)  # nothing more: exactly one reply each
            assert got == expected and got_none == bad_ids
            total["requests"] += sum(expected.values()) + bad_ids
            total["bad_ids"] += bad_ids
            s.close()
        st = settled(sock_path)
        assert st["jobs_inflight"] == 0 and st["jobs_queued"] == 0 and st["bad_frames"] == 0
        assert served(sock_path) < 5
    finally:
        d.stop()
    print(f"well-framed hostile requests: {total}")


def test_200_silent_connections_do_not_keep_an_editor_out(engine, sock_path):
    """A slowloris: 200 connections that never finish a hello (some dribble half a header), then
    150 that say hello and go quiet. An editor connecting afterwards is served in a second or two;
    the oldest silent connections were dropped to make room."""
    d = Daemon(engine, sock_path)
    silent = []
    try:
        for i in range(200):
            s = connect(sock_path, client=None)
            if i % 3 == 0:
                s.sendall(b"\x00\x00")  # half a header
            silent.append(s)
        for i in range(150):
            silent.append(connect(sock_path, client=f"idle{i}"))
        seconds = served(sock_path)
        assert seconds < 2.0, f"editor served in {seconds:.2f}s beside 350 silent connections"
        st = stats(sock_path)
        assert st["connections_pre_hello"] <= Limits().max_pre_hello
        assert st["dropped"].get("pre_hello", 0) >= 200 - Limits().max_pre_hello
        print(f"editor served in {seconds:.3f}s beside 200 silent pre-hello and 150 idle connections")
    finally:
        for s in silent:
            s.close()
        d.stop()


def test_hello_and_frame_timeouts_drop_stalled_peers(engine, sock_path):
    d = Daemon(engine, sock_path, limits=Limits(hello_timeout_s=0.5, frame_timeout_s=0.5))
    try:
        no_hello = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        connect_unix(no_hello, sock_path, 10)
        half = connect(sock_path, client="half")
        half.sendall(struct.pack(">I", 1000) + b"\x81")  # a header, then never the rest
        assert closed_by_peer(no_hello, 5) and closed_by_peer(half, 5)
        st = stats(sock_path)
        assert st["dropped"].get("hello_timeout") == 1 and st["bad_frames"] == 1
    finally:
        d.stop()
