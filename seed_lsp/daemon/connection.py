"""One connection from a client to the daemon: a socket, a reader thread, the requests awaiting answers.

`Conn.open(path, client_id, role)` checks the socket is ours, says hello and returns a connection
whose reader thread resolves each request's future from its response. When the connection ends
(EOF, a reset, a daemon that stops reading), every pending future resolves at once: an infill to an
empty InfillResult with stop_reason "error", any other request to DaemonUnavailable. Sends time out
after SEND_TIMEOUT_S (SO_SNDTIMEO), so a frozen daemon cannot block a caller for longer; a frame is
sent outside the lock the reader needs, so replies keep being read while a large frame goes out.
RemoteEngine (client.py) builds reconnection and the Engine interface on top.
"""
from __future__ import annotations

import concurrent.futures
import itertools
import logging
import socket
import struct
import threading
from pathlib import Path
from typing import Any

from runtime.jobs import InfillResult
from seed_lsp.daemon.paths import check_owned, check_private_dir, connect_unix
from seed_lsp.daemon.protocol import PROTOCOL_VERSION, ProtocolError, encode_frame, read_frame, result_from_map
from seed_lsp.daemon.spawn import DaemonUnavailable

log = logging.getLogger("seed_lsp.daemon.client")
SEND_TIMEOUT_S = 3.0

Entry = tuple[concurrent.futures.Future, "int | None"]  # a pending request: (future, gaps of an infill)


class Conn:
    """One live connection: a socket, a reader thread, and the requests awaiting answers."""

    def __init__(self, sock: socket.socket, hello: dict[str, Any]) -> None:
        self.sock = sock
        self.hello = hello
        self.alive = True
        self.pending: dict[int, Entry] = {}  # id -> (fut, gaps)
        self.lock = threading.Lock()  # pending, alive
        self.send_lock = threading.Lock()  # one frame at a time on the socket
        self.ids = itertools.count(1)
        self.reader = threading.Thread(target=self._read_loop, name="seed-lsp-daemon-reader", daemon=True)
        self.reader.start()

    @classmethod
    def open(cls, path: Path, client_id: str, role: str = "editor", timeout: float = 10.0) -> "Conn":
        check_private_dir(path.parent)
        check_owned(path, "socket")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            connect_unix(sock, path, timeout)
            sock.sendall(encode_frame({"op": "hello", "v": PROTOCOL_VERSION, "client": client_id,
                                      "role": role}))
            hello = read_frame(sock)
            if not hello or not hello.get("ok"):
                raise DaemonUnavailable(f"daemon refused the hello: {hello!r}")
            sock.settimeout(None)  # the reader blocks for as long as it likes; sends do not:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, struct.pack("ll", int(SEND_TIMEOUT_S),
                                                                              int(SEND_TIMEOUT_S % 1 * 1e6)))
        except BaseException:
            sock.close()
            raise
        return cls(sock, hello)

    def request(self, msg: dict[str, Any], n_gaps: int | None,
                fut: concurrent.futures.Future | None = None) -> tuple[int, concurrent.futures.Future]:
        fut = fut or concurrent.futures.Future()
        with self.lock:
            if not self.alive:
                raise DaemonUnavailable("connection closed")
            rid = next(self.ids)
            frame = encode_frame({**msg, "id": rid})  # too large: ProtocolError, nothing sent
            self.pending[rid] = (fut, n_gaps)
        # Sent outside `lock`, so the reader goes on reading (and the daemon, whose reads wait for
        # its replies to drain, goes on reading us) while a large frame is on its way.
        with self.send_lock:
            try:
                self.sock.sendall(frame)  # a daemon that does not read: OSError after SEND_TIMEOUT_S
                return rid, fut
            except OSError:
                pass
        with self.lock:
            self.pending.pop(rid, None)
            orphans = self._die_locked()
        settle_all(orphans)
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
        settle_all(orphans)

    def _read_loop(self) -> None:
        try:
            while True:
                msg = read_frame(self.sock)
                if msg is None:
                    break
                with self.lock:
                    entry = self.pending.pop(msg.get("id"), None)  # type: ignore[arg-type]
                if entry is not None:
                    settle(entry, msg)
        except (OSError, ProtocolError) as exc:
            log.debug("daemon connection lost: %s", exc)
        with self.lock:
            orphans = self._die_locked()
        settle_all(orphans)

    def _die_locked(self) -> list[Entry]:
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


def settle_all(entries: list[Entry]) -> None:
    for entry in entries:
        settle(entry, None)


def settle(entry: Entry, msg: dict[str, Any] | None) -> None:
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
