"""RemoteEngine: the runtime.Engine interface, served by the workstation daemon over its socket.

    engine = connect_or_start(socket_path=None, model=None, device="auto", start=True)
    if engine is None: ...fall back to an in-process runtime.Engine...
    h = engine.submit(InfillJob(...)); h.future / h.result(timeout) / h.cancel()
    engine.stats(); engine.tokenizer.encode(text); engine.close()

Never hangs on a dead daemon: when the connection drops, every pending infill future resolves to an
empty InfillResult with stop_reason "error" (other calls raise DaemonUnavailable), and the next
submit reconnects, starting the daemon again when `start` is true. Starting is serialised by an
flock on <socket>.start.lock so that several editors starting at once spawn exactly one daemon.
The client refuses a socket or directory owned by another user (it would send them our code).
"""
from __future__ import annotations

import concurrent.futures
import itertools
import logging
import os
import socket
import subprocess
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from runtime.jobs import InfillJob, InfillResult
from seed_lsp.daemon.paths import (
    UnsafePathError,
    check_owned,
    check_private_dir,
    default_socket_path,
    resolve_socket_path,
)
from seed_lsp.daemon.protocol import (
    PROTOCOL_VERSION,
    ProtocolError,
    encode_frame,
    job_to_map,
    read_frame,
    result_from_map,
)

from seed_lsp.daemon.spawn import DaemonUnavailable, start_daemon

log = logging.getLogger("seed_lsp.daemon.client")


class _Conn:
    """One live connection: a socket, a reader thread, and the requests awaiting answers."""

    def __init__(self, sock: socket.socket, hello: dict[str, Any]) -> None:
        self.sock = sock
        self.hello = hello
        self.alive = True
        self.pending: dict[int, tuple[concurrent.futures.Future, int | None]] = {}  # id -> (fut, gaps)
        self.lock = threading.Lock()
        self.ids = itertools.count(1)
        self.reader = threading.Thread(target=self._read_loop, name="seed-lsp-daemon-reader", daemon=True)
        self.reader.start()

    @classmethod
    def open(cls, path: Path, client_id: str, role: str = "editor", timeout: float = 10.0) -> "_Conn":
        check_private_dir(path.parent)
        check_owned(path, "socket")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            sock.connect(str(path))
            sock.sendall(encode_frame({"op": "hello", "v": PROTOCOL_VERSION, "client": client_id,
                                      "role": role}))
            hello = read_frame(sock)
            if not hello or not hello.get("ok"):
                raise DaemonUnavailable(f"daemon refused the hello: {hello!r}")
            sock.settimeout(None)
        except BaseException:
            sock.close()
            raise
        return cls(sock, hello)

    def request(self, msg: dict[str, Any], n_gaps: int | None) -> tuple[int, concurrent.futures.Future]:
        fut: concurrent.futures.Future = concurrent.futures.Future()
        with self.lock:
            if not self.alive:
                raise DaemonUnavailable("connection closed")
            rid = next(self.ids)
            frame = encode_frame({**msg, "id": rid})  # too large: ProtocolError, nothing sent
            self.pending[rid] = (fut, n_gaps)
            try:
                self.sock.sendall(frame)
            except OSError:
                self.pending.pop(rid, None)
                orphans = self._die_locked()
            else:
                return rid, fut
        _settle_all(orphans)
        raise DaemonUnavailable("connection lost while sending")

    def send(self, msg: dict[str, Any]) -> None:
        """Fire and forget (cancel): a lost connection resolves the target anyway."""
        try:
            self.request(msg, None)
        except DaemonUnavailable:
            pass

    def close(self) -> None:
        with self.lock:
            orphans = self._die_locked()
        _settle_all(orphans)

    def _read_loop(self) -> None:
        try:
            while True:
                msg = read_frame(self.sock)
                if msg is None:
                    break
                with self.lock:
                    entry = self.pending.pop(msg.get("id"), None)  # type: ignore[arg-type]
                if entry is not None:
                    _settle(entry, msg)
        except (OSError, ProtocolError) as exc:
            log.debug("daemon connection lost: %s", exc)
        with self.lock:
            orphans = self._die_locked()
        _settle_all(orphans)

    def _die_locked(self) -> list[tuple[concurrent.futures.Future, int | None]]:
        """Mark dead and detach the pending requests; callers settle them outside the lock
        (a future's callback may submit again, which takes the lock)."""
        if self.alive:
            self.alive = False
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.sock.close()
        pending, self.pending = self.pending, {}
        return list(pending.values())


def _settle_all(entries: list[tuple[concurrent.futures.Future, int | None]]) -> None:
    for entry in entries:
        _settle(entry, None)


def _settle(entry: tuple[concurrent.futures.Future, int | None], msg: dict[str, Any] | None) -> None:
    """Resolve a pending future from a response, or from a lost connection (msg None)."""
    fut, n_gaps = entry
    if fut.done():
        return
    try:
        if n_gaps is not None:  # infill: always a result, never an exception
            ok = msg is not None and msg.get("ok") and isinstance(msg.get("result"), dict)
            fut.set_result(result_from_map(msg["result"]) if ok else InfillResult.empty(n_gaps, "error"))
        elif msg is None:
            fut.set_exception(DaemonUnavailable("daemon connection lost"))
        elif msg.get("ok"):
            fut.set_result(msg.get("result"))
        else:
            fut.set_exception(RuntimeError(str(msg.get("error"))))
    except concurrent.futures.InvalidStateError:
        pass  # the caller cancelled the future itself


class RemoteHandle:
    """What submit returns: .future (Future[InfillResult]), .result(timeout), .cancel()."""

    def __init__(self, conn: _Conn | None, rid: int, future: concurrent.futures.Future) -> None:
        self._conn, self._rid, self.future = conn, rid, future

    def result(self, timeout: float | None = None) -> InfillResult:
        return self.future.result(timeout)

    def cancel(self) -> None:
        if self._conn is not None and not self.future.done():
            self._conn.send({"op": "cancel", "target": self._rid})


class _RemoteTokenizer:
    def __init__(self, engine: "RemoteEngine") -> None:
        self._engine = engine

    def encode(self, text: str) -> list[int]:
        return list(self._engine.call("encode", text=text))

    def decode(self, ids: list[int]) -> str:
        return str(self._engine.call("decode", ids=list(ids)))


class RemoteEngine:
    def __init__(self, socket_path: str | os.PathLike | None = None, *, model: str | None = None,
                 device: str = "auto", start: bool = True, client_id: str | None = None,
                 start_timeout: float = 120.0, role: str = "editor") -> None:
        self.socket_path = resolve_socket_path(socket_path)
        self.default_path = socket_path is None or self.socket_path == default_socket_path()
        self.model, self.device, self.start = model, device, start
        self.client_id = client_id or f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.start_timeout = start_timeout
        self.role = role  # "editor", or "control" for status/stop (not counted as a client served)
        self.tokenizer = _RemoteTokenizer(self)
        self._conn: _Conn | None = None
        self._lock = threading.Lock()
        self._closed = False
        self._spawned: subprocess.Popen | None = None

    @property
    def hello(self) -> dict[str, Any]:
        """The daemon's hello (pid, model, device) on the live connection; {} when not connected."""
        conn = self._conn
        return dict(conn.hello) if conn is not None else {}

    @property
    def window(self) -> int:
        """The daemon's model window (from its hello)."""
        return int(self.connect().hello.get("window", 0))

    def context_tokens(self, max_tokens: int) -> int:
        """Tokens of text a one-gap job keeps on the daemon's model (runtime.infill.text_budget)."""
        from runtime.infill import text_budget

        h = self.connect().hello
        if "window" not in h:  # an older daemon: the runtime trims whatever is sent
            return 2048
        return text_budget(int(h["window"]), int(h.get("layout_tokens", 0)), int(h["max_context"]), max_tokens)

    def connect(self) -> _Conn:
        """The live connection, opening one (and starting the daemon if allowed) when needed."""
        with self._lock:
            if self._closed:
                raise DaemonUnavailable("engine closed")
            if self._conn is not None and self._conn.alive:
                return self._conn
            if self._spawned is not None:
                self._spawned.poll()  # reap a daemon child that died
            try:
                self._conn = _Conn.open(self.socket_path, self.client_id, self.role)
            except (OSError, ProtocolError, DaemonUnavailable) as exc:
                if not self.start:
                    raise DaemonUnavailable(f"no daemon on {self.socket_path}: {exc!r}") from None
                self._conn = self._start_and_open()
            return self._conn

    def _start_and_open(self) -> _Conn:
        # Retried: a daemon that was just killed can still accept (then reset) a connection
        # for a moment, and another editor may be starting one right now.
        deadline = time.monotonic() + self.start_timeout
        while True:
            spawned = start_daemon(self.socket_path, self.model, self.device,
                                   max(1.0, deadline - time.monotonic()), fix_modes=self.default_path)
            self._spawned = spawned or self._spawned
            try:
                return _Conn.open(self.socket_path, self.client_id, self.role)
            except (OSError, ProtocolError, DaemonUnavailable) as exc:
                if time.monotonic() > deadline:
                    raise DaemonUnavailable(f"daemon on {self.socket_path} unreachable: {exc!r}") from None
                time.sleep(0.1)

    def submit(self, job: InfillJob) -> RemoteHandle:
        n_gaps = len(job.texts) - 1
        try:
            conn = self.connect()
            rid, fut = conn.request({"op": "infill", "job": job_to_map(job)}, n_gaps)
            return RemoteHandle(conn, rid, fut)
        except (DaemonUnavailable, UnsafePathError, OSError, ProtocolError) as exc:
            log.warning("daemon unavailable: %s", exc)
            fut = concurrent.futures.Future()
            fut.set_result(InfillResult.empty(n_gaps, "error"))
            return RemoteHandle(None, 0, fut)

    def cancel(self, handle: RemoteHandle) -> None:
        handle.cancel()

    def infill(self, prefix: str, suffix: str, mode: str = "line", max_tokens: int = 64,
               strategy: str = "auto", **params: Any) -> InfillResult:
        job = InfillJob(prefix=prefix, suffix=suffix, mode=mode, max_tokens=max_tokens,
                        strategy=strategy, params=params)
        return self.submit(job).result()

    def call(self, op: str, timeout: float = 10.0, **fields: Any) -> Any:
        """A synchronous request (stats, encode, decode, stop); DaemonUnavailable if none answers."""
        try:
            _, fut = self.connect().request({"op": op, **fields}, None)
            return fut.result(timeout)
        except (OSError, ProtocolError, concurrent.futures.TimeoutError) as exc:
            raise DaemonUnavailable(f"{op}: {exc!r}") from None

    def stats(self) -> dict[str, Any]:
        try:
            return dict(self.call("stats"))
        except DaemonUnavailable as exc:
            return {"error": str(exc), "socket": str(self.socket_path)}

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._conn is not None:
                self._conn.close()


def connect_or_start(socket_path: str | os.PathLike | None = None, model: str | None = None,
                     device: str = "auto", start: bool = True, timeout: float = 120.0,
                     client_id: str | None = None) -> RemoteEngine | None:
    """A connected RemoteEngine, starting the daemon when absent (if `start`); None if it cannot run."""
    try:
        engine = RemoteEngine(socket_path, model=model, device=device, start=start,
                              client_id=client_id, start_timeout=timeout)
        engine.connect()
        return engine
    except (DaemonUnavailable, UnsafePathError, OSError, ProtocolError) as exc:
        log.warning("workstation daemon unavailable, falling back to in-process: %s", exc)
        return None
