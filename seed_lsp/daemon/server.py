"""The daemon's socket server: one asyncio loop, one shared engine, many clients.

`DaemonServer(engine, socket_path).run()` binds a Unix stream socket (never TCP), chmods it to
0600, and serves the protocol of docs/daemon-protocol.md until a "stop" request or stop() is called.
Each connection must open with a hello carrying PROTOCOL_VERSION; then requests flow with ids and
responses come back in completion order. A frame that is not a valid msgpack map, is truncated or is
larger than MAX_FRAME closes that one connection; the daemon and the other clients carry on.
A request that decodes but is invalid (unknown op, a missing or ill-typed field, a job the engine
would refuse) gets an error response naming the field, before anything reaches the engine; a hello
whose client id is not a str of at most MAX_CLIENT_ID characters is refused the same way. The daemon
remembers the last MAX_CLIENTS_SEEN client ids (and a count of all), so ids cannot grow its memory.

idle_exit_s (0 = never): the daemon stops by itself once no client has been connected for that long.
Daemons that editors start on demand get it (seed_lsp.daemon.spawn), so closing the last editor (or
a CI run ending) does not leave a model resident forever; one a user runs in the foreground has none.

Jobs go through FairScheduler (round-robin across clients, latest-wins per client and key).
Who may connect and how much each peer may hold (SO_PEERCRED uid check, connection caps, a cap on
requests in progress per client, write backpressure) is seed_lsp.daemon.limits; warnings caused by
peers are rate-limited (one line per kind per LOG_EVERY_S, with a count of the lines left out).

Socket-path safety (ownership, modes, stale sockets, the single-daemon lock) lives in
seed_lsp.daemon.cli, which owns process start-up; this module only serves an already-safe path.
"""
from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import Counter, OrderedDict
from pathlib import Path
from typing import Any

from seed_lsp.daemon.protocol import (
    PROTOCOL_VERSION,
    ProtocolError,
    check_request,
    encode_frame,
    hello_fields,
    job_from_map,
    read_frame_async,
    request_id,
    result_to_map,
)
from seed_lsp.daemon.limits import Limits, peer_credentials
from seed_lsp.daemon.scheduler import FairScheduler, Ticket

log = logging.getLogger("seed_lsp.daemon")
MAX_CLIENTS_SEEN = 1024  # recent client ids remembered; clients_served counts ids not among them
LOG_EVERY_S = 10.0  # at most one warning line per kind (refused, dropped, bad frame) this often


def window_info(engine) -> dict[str, int]:
    """What a client needs to size its context cuts (runtime.infill.text_budget): the model's window,
    the tokens its layout adds (BOS/EOS) and the engine's text cap."""
    spec = engine.model.spec
    return {"window": spec.window, "layout_tokens": len(spec.prompt_head) + len(spec.prompt_tail),
            "max_context": engine.options.max_context}


class _Conn:
    """One client connection: its writer, its client id, its requests still in progress."""

    def __init__(self, writer: asyncio.StreamWriter, limits: Limits) -> None:
        self.writer = writer
        self.transport = writer.transport
        self.limits = limits
        self.client = ""
        self.control = False  # `daemon status/stop`: not a client served, does not keep the daemon up
        self.greeted = False  # its hello was accepted
        self.uid = -1
        self.pending: dict[Any, Ticket] = {}
        self.dropped: tuple[str, str] | None = None  # (kind, why) once the daemon has cut it off
        self.transport.set_write_buffer_limits(high=limits.write_high_water)

    def send(self, msg: dict[str, Any]) -> None:
        if self.dropped is not None or self.writer.is_closing():
            return
        try:
            frame = encode_frame(msg)
        except ProtocolError as exc:  # an answer too large to send still answers (as an error)
            frame = encode_frame({"id": msg.get("id"), "ok": False, "error": str(exc)})
        self.writer.write(frame)
        unread = self.transport.get_write_buffer_size()
        if unread > self.limits.max_write_buffer:
            self.drop("write_buffer", f"{unread} bytes of replies unread (limit {self.limits.max_write_buffer})")

    def drop(self, kind: str, why: str) -> None:
        """Cut the connection off now (its handler then sees the end of the stream)."""
        if self.dropped is None:
            self.dropped = (kind, why)
            self.transport.abort()

    async def drained(self) -> None:
        """Backpressure: wait (at most write_stall_s) until the peer has read our replies down to the
        transport's high-water mark; a peer that does not read is dropped."""
        if self.transport.get_write_buffer_size() <= self.limits.write_high_water:
            return
        try:
            await asyncio.wait_for(self.writer.drain(), self.limits.write_stall_s)
        except asyncio.TimeoutError:
            self.drop("slow_reader", f"has not read its replies for {self.limits.write_stall_s:g}s")


class DaemonServer:
    def __init__(self, engine: Any, socket_path: Path, *, model: str, device: str,
                 max_inflight: int = 8, idle_exit_s: float = 0.0, limits: Limits | None = None,
                 allowed_uid: int | None = None) -> None:
        """allowed_uid: the only peer uid let in (default: this process's effective uid; tests
        that run as one user pass another to see a refusal)."""
        self.engine = engine
        self.limits = limits or Limits()
        self.allowed_uid = os.geteuid() if allowed_uid is None else allowed_uid
        self.socket_path = Path(socket_path)
        self.model = model
        self.device = device
        self.max_inflight = max_inflight
        self.started = time.time()
        self.idle_exit_s = idle_exit_s
        self.idle_since = time.monotonic()  # when the last client left (or the daemon started)
        self.clients_seen: OrderedDict[str, None] = OrderedDict()  # LRU of recent client ids
        self.clients_served = 0
        self.conns: set[_Conn] = set()
        self.pre_hello: OrderedDict[_Conn, None] = OrderedDict()  # oldest first
        self.uid_conns: Counter[int] = Counter()
        self.refused: Counter[str] = Counter()  # connections or hellos refused, by reason
        self.dropped: Counter[str] = Counter()  # connections cut off, by reason
        self.bad_frames = 0
        self._warned: dict[str, tuple[float, int]] = {}  # kind -> (last logged, lines left out since)
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.sched: FairScheduler | None = None
        self._tasks: set[asyncio.Task] = set()

    async def run(self, ready: Any = None) -> None:
        """Serve until stopped. `ready` (a callable) is called once the socket accepts clients."""
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self.sched = FairScheduler(self.engine, self._loop, self.max_inflight)
        # a backlog for bursts: beside hundreds of silent connections an editor's connect still queues
        server = await asyncio.start_unix_server(self._handle, path=str(self.socket_path),
                                                 backlog=max(128, self.limits.max_connections))
        os.chmod(self.socket_path, 0o600)  # explicitly: the umask is not trusted
        log.info("listening on %s (pid %d)", self.socket_path, os.getpid())
        if ready is not None:
            ready()
        idle = asyncio.create_task(self._idle_watch()) if self.idle_exit_s > 0 else None
        try:
            await self._stop.wait()
        finally:
            if idle is not None:
                idle.cancel()
            server.close()
            for conn in list(self.conns):
                self.sched.drop_client(conn.client)
                conn.writer.close()
            # let each connection's handler see its EOF and finish, rather than be cancelled
            if self._tasks:
                await asyncio.wait(list(self._tasks), timeout=2.0)
            try:
                self.socket_path.unlink()
            except FileNotFoundError:
                pass
            await server.wait_closed()

    async def _idle_watch(self) -> None:
        assert self._stop is not None
        while True:
            await asyncio.sleep(min(5.0, self.idle_exit_s / 4))
            if not any(not c.control for c in self.conns) and time.monotonic() - self.idle_since >= self.idle_exit_s:
                log.info("no client for %.0fs: stopping", self.idle_exit_s)
                self._stop.set()
                return

    def stop(self) -> None:
        """Thread-safe request to stop serving."""
        if self._loop is not None and self._stop is not None:
            try:
                self._loop.call_soon_threadsafe(self._stop.set)
            except RuntimeError:
                pass  # the loop already finished: stopped

    def stats(self) -> dict[str, Any]:
        engine_stats: dict[str, Any] = {}
        try:
            engine_stats = dict(self.engine.stats())
        except Exception as exc:  # stats must answer even if the engine is unwell
            engine_stats = {"error": repr(exc)}
        assert self.sched is not None
        return {
            **engine_stats,
            "pid": os.getpid(),
            "model": self.model,
            "device": self.device,
            "models_loaded": 1,
            "clients_served": self.clients_served,
            "clients_connected": len(self.conns),
            "jobs_done": self.sched.jobs_done,
            "jobs_queued": self.sched.queued(),
            "jobs_inflight": self.sched.inflight,
            "bad_frames": self.bad_frames,
            "refused": dict(self.refused),
            "dropped": dict(self.dropped),
            "connections_pre_hello": len(self.pre_hello),
            "uptime_s": round(time.time() - self.started, 3),
            "idle_exit_s": self.idle_exit_s,
            "protocol": PROTOCOL_VERSION,
            "socket": str(self.socket_path),
        }

    def _warn(self, kind: str, fmt: str, *args: Any) -> None:
        """A warning caused by a peer, at most one line per kind per LOG_EVERY_S."""
        now = time.monotonic()
        last, left_out = self._warned.get(kind, (-LOG_EVERY_S, 0))
        if now - last < LOG_EVERY_S:
            self._warned[kind] = (last, left_out + 1)
            return
        self._warned[kind] = (now, 0)
        log.warning(fmt + (f" ({left_out} more like it not logged)" if left_out else ""), *args)

    def _admit(self, conn: _Conn) -> bool:
        """The peer's uid (SO_PEERCRED) and the connection caps, before a byte is read."""
        cred = peer_credentials(conn.transport)
        if cred is None or cred.uid != self.allowed_uid:
            self.refused["peer_uid"] += 1
            self._warn("peer_uid", "refused a connection from uid %s (pid %s): this daemon serves uid %d only",
                       *((cred.uid, cred.pid) if cred else ("unknown", "unknown")), self.allowed_uid)
            return False
        if self.uid_conns[cred.uid] >= self.limits.max_connections:
            self.refused["max_connections"] += 1
            self._warn("max_connections", "refused a connection from pid %d: uid %d already holds %d",
                       cred.pid, cred.uid, self.limits.max_connections)
            return False
        conn.uid = cred.uid
        self.uid_conns[cred.uid] += 1
        self.conns.add(conn)
        while len(self.pre_hello) >= self.limits.max_pre_hello:
            oldest, _ = self.pre_hello.popitem(last=False)
            oldest.drop("pre_hello", f"no hello yet and {self.limits.max_pre_hello} newer connections waiting")
        self.pre_hello[conn] = None
        return True

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = _Conn(writer, self.limits)
        if not self._admit(conn):
            writer.transport.abort()
            return
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            if await self._hello(conn, reader):
                while True:
                    msg = await read_frame_async(reader, self.limits.frame_timeout_s)
                    if msg is None:
                        break
                    self._dispatch(conn, msg)
                    await conn.drained()
        except ProtocolError as exc:
            if conn.dropped is None:  # a stream cut by the daemon ends mid-frame: not the peer's fault
                self.bad_frames += 1
                self._warn("bad_frame", "closing connection of %r: %s", conn.client or "?", exc)
        except asyncio.TimeoutError:
            conn.drop("hello_timeout", f"no hello within {self.limits.hello_timeout_s:g}s")
        except ConnectionError:
            pass
        finally:
            self._tasks.discard(task)  # type: ignore[arg-type]
            self._forget(conn)
            writer.close()

    def _forget(self, conn: _Conn) -> None:
        self.conns.discard(conn)
        self.pre_hello.pop(conn, None)
        self.uid_conns[conn.uid] -= 1
        if self.uid_conns[conn.uid] <= 0:
            del self.uid_conns[conn.uid]
        if conn.dropped is not None:
            kind, why = conn.dropped
            self.dropped[kind] += 1
            self._warn(kind, "dropped the connection of %r: %s", conn.client or "?", why)
        if not conn.control:
            self.idle_since = time.monotonic()
        if conn.client and self.sched is not None:
            if not any(c.client == conn.client for c in self.conns):
                self.sched.drop_client(conn.client)

    async def _hello(self, conn: _Conn, reader: asyncio.StreamReader) -> bool:
        msg = await asyncio.wait_for(read_frame_async(reader), self.limits.hello_timeout_s)
        if msg is None:
            return False  # a bare connect-and-close (a liveness probe), or dropped while waiting
        if msg.get("op") != "hello":
            raise ProtocolError("the first frame must be a hello")
        if msg.get("v") != PROTOCOL_VERSION:
            shown = repr(msg.get("v"))[:40]
            conn.send({"op": "hello", "ok": False, "v": PROTOCOL_VERSION, "error": f"protocol version {shown} unsupported"})
            return False
        try:
            client, role = hello_fields(msg)
            if client is not None and sum(c.greeted and c.client == client
                                          for c in self.conns) >= self.limits.max_client_connections:
                self.refused["client_connections"] += 1
                raise ValueError(f"client {client[:40]!r} already holds {self.limits.max_client_connections} "
                                 "connections (the limit)")
        except ValueError as exc:
            conn.send({"op": "hello", "ok": False, "v": PROTOCOL_VERSION, "error": str(exc)})
            return False
        conn.client = client or f"anon-{id(conn):x}"
        conn.control = role == "control"
        conn.greeted = True
        self.pre_hello.pop(conn, None)
        if not conn.control:  # `daemon status/stop` are not clients served
            self._seen(conn.client)
        conn.send({"op": "hello", "ok": True, "v": PROTOCOL_VERSION, "pid": os.getpid(),
                   "model": self.model, "device": self.device, **window_info(self.engine)})
        return True

    def _seen(self, client: str) -> None:
        if client in self.clients_seen:
            self.clients_seen.move_to_end(client)
            return
        self.clients_served += 1
        self.clients_seen[client] = None
        while len(self.clients_seen) > MAX_CLIENTS_SEEN:
            self.clients_seen.popitem(last=False)

    def _dispatch(self, conn: _Conn, msg: dict[str, Any]) -> None:
        op = msg.get("op")
        try:
            rid = request_id(msg)
        except ValueError as exc:
            conn.send({"id": None, "ok": False, "error": str(exc)})
            return
        try:
            check_request(msg)
            if op == "infill":
                self._infill(conn, rid, msg)
                return
            if op == "cancel":
                ticket = conn.pending.get(msg.get("target"))
                if ticket is not None:
                    assert self.sched is not None
                    self.sched.cancel(ticket)
                conn.send({"id": rid, "ok": True, "result": ticket is not None})
            elif op == "stats":
                conn.send({"id": rid, "ok": True, "result": self.stats()})
            elif op == "stop":
                conn.send({"id": rid, "ok": True, "result": True})
                assert self._stop is not None
                self._stop.set()
            elif op == "encode":
                conn.send({"id": rid, "ok": True, "result": list(self.engine.tokenizer.encode(msg["text"]))})
            elif op == "decode":
                conn.send({"id": rid, "ok": True, "result": self.engine.tokenizer.decode(list(msg["ids"]))})
            else:
                conn.send({"id": rid, "ok": False, "error": f"unknown op {op!r}"})
        except Exception as exc:  # a bad request fails alone, never the daemon
            conn.send({"id": rid, "ok": False, "error": f"{type(exc).__name__}: {exc}"})

    def _infill(self, conn: _Conn, rid: Any, msg: dict[str, Any]) -> None:
        job = job_from_map(msg.get("job"))
        validate = getattr(self.engine, "validate", None)
        if validate is not None:  # strategy and params: refused here, before a slot or a queue
            validate(job)
        if rid in conn.pending:
            raise ValueError(f"request id {str(rid)[:40]!r} is already in use")
        limit = self.limits.max_pending
        if sum(len(c.pending) for c in self.conns if c.client == conn.client) >= limit:
            raise ValueError(f"too many requests in progress for this client (limit {limit})")
        assert self.sched is not None
        ticket = self.sched.submit(conn.client, job)
        conn.pending[rid] = ticket

        def reply(fut: asyncio.Future) -> None:
            conn.pending.pop(rid, None)
            try:
                exc = fut.exception()
                if exc is not None:
                    conn.send({"id": rid, "ok": False, "error": f"{type(exc).__name__}: {exc}"})
                else:
                    conn.send({"id": rid, "ok": True, "result": result_to_map(fut.result())})
            except Exception as exc:  # an answer that cannot be sent still answers, as an error
                log.warning("reply to %r failed: %r", rid, exc)
                conn.send({"id": rid, "ok": False, "error": f"{type(exc).__name__}: reply failed"})

        ticket.done.add_done_callback(reply)
