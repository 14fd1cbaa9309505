"""A transparent stdio tap between an editor and the real language server (tests only).

    python lsp_tap.py LOG -- seed-lsp serve ...

Starts the server command, copies bytes both ways unchanged, and appends every LSP message to LOG
as one JSON line {"dir": "in"|"out", "msg": {...}} ("in" = editor -> server). The VS Code test reads
it to learn what the server proposed, then checks that the editor inserted exactly that.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from typing import BinaryIO


class FrameLog:
    """Splits a byte stream into LSP frames (Content-Length headers) and logs each message."""

    def __init__(self, direction: str, log: BinaryIO, lock: threading.Lock) -> None:
        self.direction, self.log, self.lock = direction, log, lock
        self.buf = b""

    def feed(self, data: bytes) -> None:
        self.buf += data
        while True:
            head_end = self.buf.find(b"\r\n\r\n")
            if head_end < 0:
                return
            length = None
            for line in self.buf[:head_end].split(b"\r\n"):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            body_start = head_end + 4
            if length is None or len(self.buf) < body_start + length:
                return
            body, self.buf = self.buf[body_start:body_start + length], self.buf[body_start + length:]
            try:
                record = {"dir": self.direction, "msg": json.loads(body)}
            except ValueError:
                record = {"dir": self.direction, "raw": body.decode("utf-8", "replace")}
            with self.lock:
                self.log.write((json.dumps(record) + "\n").encode())
                self.log.flush()


def pump(src: BinaryIO, dst: BinaryIO, frames: FrameLog) -> None:
    while data := src.read1(65536):
        frames.feed(data)
        try:
            dst.write(data)
            dst.flush()
        except (BrokenPipeError, ValueError):
            return
    try:
        dst.close()
    except OSError:
        pass


def main(argv: list[str]) -> int:
    log_path, sep, *cmd = argv
    assert sep == "--" and cmd, "usage: lsp_tap.py LOG -- COMMAND..."
    lock = threading.Lock()
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        to_server = threading.Thread(
            target=pump, args=(sys.stdin.buffer, proc.stdin, FrameLog("in", log, lock)), daemon=True
        )
        to_server.start()
        pump(proc.stdout, sys.stdout.buffer, FrameLog("out", log, lock))
        code = proc.wait()
    # os._exit: the stdin pump thread may sit in a blocking read that would abort interpreter shutdown.
    sys.stdout.flush()
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
