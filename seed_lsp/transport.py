"""Transport: LSP base-protocol frames over stdio or loopback TCP, with limits, clean stops, and the
token a TCP client must present.

Frames: header lines up to an empty line; `Content-Length` (any case, and found at the end of a
garbage line too, so the stream resynchronizes after junk) gives the body's length in bytes; other
headers are ignored. Limits: a header line over 64 KiB is skipped; a body over MAX_BODY (64 MiB) is
read in chunks and discarded, never held (a request whose id leads it is answered -32600); a
declared length that never arrives is the client's framing to fix (the server waits, as every
server must). Bodies go to SeedProtocol.receive, which answers or drops each one.

Stops: end of input, `exit`, SIGTERM and SIGINT all end the read loop; serve.main then closes the
engine (waiting for a load in progress) and the process exits 0 (`exit` without `shutdown`: 1).
stdin is read by a daemon thread that feeds an asyncio.StreamReader and pauses while its buffer is
full, so the event loop never blocks on input and exit never waits on a blocked read.

TCP (`seed-lsp serve --tcp HOST:PORT --token-file F`, for debugging): loopback addresses only. The
first message on a connection must be `initialize` whose initializationOptions carry "token" (flat
or in the "seed-lsp" section) equal to the one in F (compared in constant time; removed before the
options are read, so it is never logged). Anything else within AUTH_TIMEOUT_S, or past
AUTH_MAX_BODY, closes that connection (a request is answered -32600 first) and the server keeps
listening. One authenticated session at a time; when it ends, the server exits.
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import signal
import stat
import sys
import threading
from pathlib import Path
from typing import NamedTuple

log = logging.getLogger("seed_lsp.transport")

MAX_BODY = 64 * 2**20
HEADER_LIMIT = 64 * 2**10
AUTH_MAX_BODY = 2**20
AUTH_TIMEOUT_S = 10.0
MAX_PREAUTH = 16  # connections waiting to authenticate at once
_CHUNK = 2**16
_LENGTH = re.compile(rb"content-length[ \t]*:[ \t]*(\d{1,12})[ \t]*\r?\n?$", re.IGNORECASE)


class Oversize(NamedTuple):
    length: int
    head: bytes  # the body's first bytes


async def read_frame(reader: asyncio.StreamReader, max_body: int = MAX_BODY) -> bytes | Oversize | None:
    """The next frame's body; Oversize for one past max_body (skipped); None at end of input."""
    length = None
    while True:
        try:
            line = await reader.readline()
        except ValueError:  # a line longer than the reader's limit: dropped
            log.warning("skipped a header line over %d bytes", HEADER_LIMIT)
            continue
        if not line:
            return None
        if line.strip():
            match = _LENGTH.search(line)
            if match:
                length = int(match.group(1))
            continue
        if length is not None:
            break
    try:
        if length <= max_body:
            return await reader.readexactly(length)
        head = await reader.readexactly(min(length, 4096))
        left = length - len(head)
        while left:
            chunk = await reader.read(min(left, _CHUNK))
            if not chunk:
                return None
            left -= len(chunk)
        return Oversize(length, head)
    except asyncio.IncompleteReadError:
        return None


async def read_loop(reader: asyncio.StreamReader, protocol) -> None:
    while True:
        frame = await read_frame(reader)
        if frame is None:
            return
        if isinstance(frame, Oversize):
            protocol.receive_oversize(frame.length, frame.head, MAX_BODY)
        else:
            protocol.receive(frame)
        await asyncio.sleep(0)  # let handlers run between messages of a burst


async def serve_session(protocol, reader: asyncio.StreamReader, first: dict | None = None) -> int:
    """Read and dispatch until end of input, `exit`, SIGTERM or SIGINT; the process's exit code."""
    loop = asyncio.get_running_loop()
    stop = loop.create_future()

    def request_stop() -> None:
        if not stop.done():
            stop.set_result(None)

    protocol.on_exit = request_stop
    signals = _on_signals(loop, request_stop)
    if first is not None:
        protocol.receive_object(first)
    reading = asyncio.ensure_future(read_loop(reader, protocol))
    try:
        await asyncio.wait([reading, stop], return_when=asyncio.FIRST_COMPLETED)
    finally:
        reading.cancel()
        for sig in signals:
            loop.remove_signal_handler(sig)
    return protocol.exit_code or 0


def _on_signals(loop, callback) -> list:
    installed = []
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, callback)
            installed.append(sig)
    return installed


# --- stdio ----------------------------------------------------------------------------------------
class _StdinFeeder:
    """Reads a file descriptor on a daemon thread into a StreamReader, as a transport would: the
    reader pauses it while its buffer is over twice its limit."""

    def __init__(self, fd: int, reader: asyncio.StreamReader, loop: asyncio.AbstractEventLoop) -> None:
        self.fd, self.reader, self.loop = fd, reader, loop
        self._go = threading.Event()
        self._go.set()
        reader.set_transport(self)  # type: ignore[arg-type]

    def pause_reading(self) -> None:
        self._go.clear()

    def resume_reading(self) -> None:
        self._go.set()

    def start(self) -> None:
        threading.Thread(target=self._run, name="seed-lsp-stdin", daemon=True).start()

    def _run(self) -> None:
        while True:
            self._go.wait()
            try:
                data = os.read(self.fd, _CHUNK)
            except OSError:
                data = b""
            try:
                if data:
                    self.loop.call_soon_threadsafe(self.reader.feed_data, data)
                else:
                    self.loop.call_soon_threadsafe(self.reader.feed_eof)
                    return
            except RuntimeError:  # the loop is closed: the server is exiting
                return


class _PipeWriter:
    """stdout for pygls: a client that closed its end stops the session (no BrokenPipeError
    raised into pygls, which would log it with a traceback on every later reply)."""

    def __init__(self, stream, protocol) -> None:
        self.stream, self.protocol, self.broken = stream, protocol, False

    def write(self, data: bytes) -> None:
        if self.broken:
            return
        try:
            self.stream.write(data)
            self.stream.flush()
        except (OSError, ValueError):
            self.broken = True
            log.warning("the client closed the server's output; stopping")
            if self.protocol.on_exit is not None:
                self.protocol.on_exit()

    def close(self) -> None:
        try:
            self.stream.close()
        except (OSError, ValueError):
            pass


def run_stdio(ls, stdin_fd: int | None = None, stdout=None) -> int:
    async def main() -> int:
        reader = asyncio.StreamReader(limit=HEADER_LIMIT)
        _StdinFeeder(sys.stdin.fileno() if stdin_fd is None else stdin_fd, reader, asyncio.get_running_loop()).start()
        ls.protocol.set_writer(_PipeWriter(stdout or sys.stdout.buffer, ls.protocol))
        return await serve_session(ls.protocol, reader)

    return asyncio.run(main())


# --- TCP ------------------------------------------------------------------------------------------
class TokenError(ValueError):
    pass


def load_token(path: str | os.PathLike) -> str:
    """The token in `path`, which must be a regular file of ours that nobody else may read; a new
    random one is written there (0600) when the file does not exist."""
    p = Path(path).expanduser()
    try:
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except FileExistsError:
        return _read_token(p)
    except OSError as exc:
        raise TokenError(f"cannot create {p}: {exc.strerror}") from None
    token = secrets.token_urlsafe(32)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    return token


def _read_token(p: Path) -> str:
    try:
        fd = os.open(p, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        raise TokenError(f"cannot read {p}: {exc.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid():
            raise TokenError(f"{p} is not a regular file of yours")
        if st.st_mode & 0o077:
            raise TokenError(f"{p} is open to other users (mode {stat.S_IMODE(st.st_mode):o}); chmod 600 it")
        token = os.read(fd, 4096).decode("utf-8", "replace").strip()
    finally:
        os.close(fd)
    if len(token) < 16:
        raise TokenError(f"the token in {p} is shorter than 16 characters")
    return token


def _same(a: str, b: str) -> bool:
    """Constant-time comparison (of digests, so that not even the length leaks)."""
    return hmac.compare_digest(hashlib.sha256(a.encode()).digest(), hashlib.sha256(b.encode()).digest())


def authenticate(body, token: str) -> tuple[bool, dict | None]:
    """(accepted, the message with the token removed) for a connection's first frame."""
    if not isinstance(body, bytes):
        return False, None
    try:
        data = json.loads(body)
    except ValueError:
        return False, None
    if not isinstance(data, dict):
        return False, None
    params = data.get("params")
    options = params.get("initializationOptions") if isinstance(params, dict) else None
    presented = None
    if isinstance(options, dict):
        for holder in (options, options.get("seed-lsp")):
            if isinstance(holder, dict) and "token" in holder:
                presented = holder.pop("token")
    ok = data.get("method") == "initialize" and isinstance(presented, str) and _same(presented, token)
    return ok, data


def run_tcp(ls, host: str, port: int, token: str) -> int:
    async def main() -> int:
        loop = asyncio.get_running_loop()
        ended = loop.create_future()
        state = {"session": False, "waiting": 0}

        async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            peer = writer.get_extra_info("peername")
            if state["session"] or state["waiting"] >= MAX_PREAUTH:
                log.warning("refused a TCP connection from %s: busy", peer)
                writer.close()
                return
            state["waiting"] += 1
            try:
                first = await asyncio.wait_for(read_frame(reader, AUTH_MAX_BODY), AUTH_TIMEOUT_S)
            except (asyncio.TimeoutError, OSError):
                first = None
            finally:
                state["waiting"] -= 1
            ok, data = authenticate(first, token)
            if not ok or state["session"]:
                log.warning("refused a TCP connection from %s: no valid token in its initialize", peer)
                if isinstance(data, dict) and "method" in data and isinstance(data.get("id"), (int, str)):
                    body = json.dumps({"jsonrpc": "2.0", "id": data["id"],
                                       "error": {"code": -32600, "message": "unauthorized"}}).encode()
                    writer.write(b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
                writer.close()
                return
            state["session"] = True
            log.info("TCP session from %s", peer)
            ls.protocol.set_writer(writer)
            code = await serve_session(ls.protocol, reader, first=data)
            writer.close()
            if not ended.done():
                ended.set_result(code)

        server = await asyncio.start_server(on_connect, host, port, limit=HEADER_LIMIT)
        bound = server.sockets[0].getsockname()
        print(f"seed-lsp serve: listening on {bound[0]}:{bound[1]} (token required)", file=sys.stderr, flush=True)
        signals = _on_signals(loop, lambda: ended.done() or ended.set_result(0))
        try:
            return await ended
        finally:
            for sig in signals:
                loop.remove_signal_handler(sig)
            server.close()

    return asyncio.run(main())
