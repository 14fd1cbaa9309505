"""RemoteEngine: the runtime.Engine interface, served by the workstation daemon over its socket.

    engine = connect_or_start(socket_path=None, model=None, device="auto", start=True)
    if engine is None: ...fall back to an in-process runtime.Engine...
    h = engine.submit(InfillJob(...)); h.future / h.result(timeout) / h.cancel()
    engine.stats(); engine.tokenizer.encode(text); engine.close()

Never hangs on a dead daemon, and never blocks its caller (an editor's event loop) on a restart:
when the connection drops, every pending infill future resolves to an empty InfillResult with
stop_reason "error". The next submit starts one reconnect on a background thread (starting the
daemon again when `start` is true) and returns at once; jobs submitted meanwhile wait for it (at
most MAX_WAITING of them; cancel() drops a waiting one) and are sent when it succeeds, or resolve
to "error" when it fails. After a failed reconnect the next one is tried no sooner than a backoff
(RETRY_MIN_S doubling to RETRY_MAX_S); until then submits resolve to "error" at once. Other calls
(stats, encode, decode) raise DaemonUnavailable at once while the connection is down; what the
hello said (window, model) stays known. Only the first connection is made synchronously.
A send to a daemon that stopped reading (frozen) fails after a few seconds and counts as a lost
connection (seed_lsp.daemon.connection). Starting is serialised by an flock on <socket>.start.lock so that several editors
starting at once spawn exactly one daemon. The client refuses a socket or directory owned by
another user (it would send them our code).
"""
from __future__ import annotations

import concurrent.futures
import logging
import os
import subprocess
import threading
import time
import uuid
from typing import Any

from runtime.jobs import InfillJob, InfillResult
from seed_lsp.daemon.connection import Conn
from seed_lsp.daemon.paths import UnsafePathError, default_socket_path, resolve_socket_path
from seed_lsp.daemon.protocol import ProtocolError, job_to_map
from seed_lsp.daemon.spawn import DaemonUnavailable, start_daemon

log = logging.getLogger("seed_lsp.daemon.client")
RETRY_MIN_S, RETRY_MAX_S = 1.0, 30.0
MAX_WAITING = 64  # jobs held while a reconnect runs


class RemoteHandle:
    """What submit returns: .future (Future[InfillResult]), .result(timeout), .cancel()."""

    def __init__(self, engine: "RemoteEngine | None", msg: dict[str, Any], n_gaps: int) -> None:
        self._engine, self._msg, self.n_gaps = engine, msg, n_gaps
        self.future: concurrent.futures.Future = concurrent.futures.Future()
        self._conn: Conn | None = None  # set once sent
        self._rid = 0
        self._cancel = False

    def result(self, timeout: float | None = None) -> InfillResult:
        return self.future.result(timeout)

    def cancel(self) -> None:
        self._cancel = True  # read by a reconnect that sends this job right now
        if self.future.done():
            return
        if self._conn is not None:
            self._conn.send({"op": "cancel", "target": self._rid})
        elif self._engine is not None:
            self._engine._unqueue(self)

    def _fail(self, reason: str = "error") -> None:
        try:
            self.future.set_result(InfillResult.empty(self.n_gaps, reason))
        except concurrent.futures.InvalidStateError:
            pass  # already answered

    def _send(self, conn: Conn) -> None:
        try:
            rid, _ = conn.request(self._msg, self.n_gaps, self.future)
        except (DaemonUnavailable, ProtocolError, OSError) as exc:  # too large, or lost while sending
            log.warning("daemon request failed: %s", exc)
            self._fail()
            return
        self._conn, self._rid = conn, rid
        if self._cancel:
            conn.send({"op": "cancel", "target": rid})


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
        self._conn: Conn | None = None
        self._last_hello: dict[str, Any] = {}  # of the latest connection, kept while reconnecting
        self._lock = threading.RLock()
        self._closed = False
        self._spawned: subprocess.Popen | None = None
        self._waiting: list[RemoteHandle] = []  # submitted while a reconnect runs
        self._reconnecting = False
        self._retry_at = 0.0
        self._backoff = RETRY_MIN_S

    @property
    def hello(self) -> dict[str, Any]:
        """The daemon's hello (pid, model, device) on the live connection; {} when not connected."""
        conn = self._conn
        return dict(conn.hello) if conn is not None else {}

    def _hello_info(self) -> dict[str, Any]:
        """The latest hello, connecting only if there never was one (never blocks on a reconnect)."""
        return self._last_hello or self.connect().hello

    @property
    def window(self) -> int:
        """The daemon's model window (from its hello)."""
        return int(self._hello_info().get("window", 0))

    def context_tokens(self, max_tokens: int) -> int:
        """Tokens of text a one-gap job keeps on the daemon's model (runtime.infill.text_budget)."""
        from runtime.infill import text_budget

        h = self._hello_info()
        if "window" not in h:  # an older daemon: the runtime trims whatever is sent
            return 2048
        return text_budget(int(h["window"]), int(h.get("layout_tokens", 0)), int(h["max_context"]), max_tokens)

    def connect(self) -> Conn:
        """The live connection, opening one (and starting the daemon if allowed) when needed.
        Blocks for as long as that takes: for the first connection, and for callers that want to wait."""
        with self._lock:
            if self._closed:
                raise DaemonUnavailable("engine closed")
            if self._conn is not None and self._conn.alive:
                return self._conn
            self._conn = self._open()
            self._last_hello = dict(self._conn.hello)
            return self._conn

    def _open(self) -> Conn:
        if self._spawned is not None:
            self._spawned.poll()  # reap a daemon child that died
        try:
            return Conn.open(self.socket_path, self.client_id, self.role)
        except (OSError, ProtocolError, DaemonUnavailable) as exc:
            if not self.start:
                raise DaemonUnavailable(f"no daemon on {self.socket_path}: {exc!r}") from None
            return self._start_and_open()

    def _start_and_open(self) -> Conn:
        # Retried: a daemon that was just killed can still accept (then reset) a connection
        # for a moment, and another editor may be starting one right now.
        deadline = time.monotonic() + self.start_timeout
        while True:
            spawned = start_daemon(self.socket_path, self.model, self.device,
                                   max(1.0, deadline - time.monotonic()), fix_modes=self.default_path)
            self._spawned = spawned or self._spawned
            try:
                return Conn.open(self.socket_path, self.client_id, self.role)
            except (OSError, ProtocolError, DaemonUnavailable) as exc:
                if time.monotonic() > deadline:
                    raise DaemonUnavailable(f"daemon on {self.socket_path} unreachable: {exc!r}") from None
                time.sleep(0.1)

    def _live(self) -> Conn | None:
        """The live connection; None when it was lost (a reconnect is then started, unless one runs
        or the backoff after a failed one is not over). The first connection is made here, blocking."""
        with self._lock:
            if self._closed:
                raise DaemonUnavailable("engine closed")
            conn = self._conn
            if conn is not None and conn.alive:
                return conn
            if conn is None and not self._last_hello:
                return self.connect()
            self._reconnect_soon()
            return None

    def _reconnect_soon(self) -> bool:
        """Start a background reconnect (lock held); False while the backoff runs."""
        if self._reconnecting:
            return True
        if time.monotonic() < self._retry_at:
            return False
        self._reconnecting = True
        threading.Thread(target=self._reconnect, name="seed-lsp-daemon-reconnect", daemon=True).start()
        return True

    def _reconnect(self) -> None:
        conn, error = None, None
        try:
            conn = self._open()
        except (DaemonUnavailable, UnsafePathError, OSError, ProtocolError) as exc:
            error = exc
        with self._lock:
            self._reconnecting = False
            waiting, self._waiting = self._waiting, []
            if conn is not None and (self._closed or (self._conn is not None and self._conn.alive)):
                conn.close()  # closed meanwhile, or connect() got there first
                conn = None if self._closed else self._conn
            elif conn is not None:
                self._conn, self._last_hello = conn, dict(conn.hello)
                self._backoff, self._retry_at = RETRY_MIN_S, 0.0
                log.info("reconnected to the daemon on %s (pid %s)", self.socket_path, conn.hello.get("pid"))
            else:
                self._retry_at = time.monotonic() + self._backoff
                self._backoff = min(RETRY_MAX_S, self._backoff * 2)
        if conn is None:
            log.warning("daemon on %s unavailable: %s; next try in %.0fs at the earliest", self.socket_path,
                        error or "engine closed", self._backoff / 2)
        for handle in waiting:
            handle._send(conn) if conn is not None else handle._fail()

    def _unqueue(self, handle: RemoteHandle) -> None:
        with self._lock:
            if handle not in self._waiting:
                return  # being sent now: its _cancel flag is read after sending
            self._waiting.remove(handle)
        handle._fail("cancelled")

    def submit(self, job: InfillJob) -> RemoteHandle:
        handle = RemoteHandle(self, {"op": "infill", "job": job_to_map(job)}, len(job.texts) - 1)
        try:
            with self._lock:  # one decision against the reconnect thread's hand-over
                conn = self._live()
                if conn is None and self._reconnecting and len(self._waiting) < MAX_WAITING:
                    self._waiting.append(handle)
                    return handle
            if conn is not None:
                handle._send(conn)
                return handle
        except (DaemonUnavailable, UnsafePathError, OSError, ProtocolError) as exc:
            log.warning("daemon unavailable: %s", exc)
        handle._fail()
        return handle

    def cancel(self, handle: RemoteHandle) -> None:
        handle.cancel()

    def infill(self, prefix: str, suffix: str, mode: str = "line", max_tokens: int = 64,
               strategy: str = "auto", **params: Any) -> InfillResult:
        job = InfillJob(prefix=prefix, suffix=suffix, mode=mode, max_tokens=max_tokens,
                        strategy=strategy, params=params)
        return self.submit(job).result()

    def call(self, op: str, timeout: float = 10.0, **fields: Any) -> Any:
        """A synchronous request (stats, encode, decode, stop); DaemonUnavailable if none answers,
        at once while the connection is down (a reconnect is started)."""
        try:
            conn = self._live()
            if conn is None:
                raise DaemonUnavailable(f"{op}: the daemon connection is down; reconnecting")
            _, fut = conn.request({"op": op, **fields}, None)
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
            waiting, self._waiting = self._waiting, []
            if self._conn is not None:
                self._conn.close()
        for handle in waiting:
            handle._fail()


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
