"""Listeners: `seed-lsp serve --tcp` needs a token file and a loopback address, refuses connections
whose initialize lacks the token (and keeps listening), serves the one that has it, never logs the
token; a stdio server listens on nothing at all."""
from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.server.lsp_helpers import FAST_OPTIONS

STATUS = {"jsonrpc": "2.0", "id": 9, "method": "workspace/executeCommand", "params": {"command": "seed.status"}}
SERVE = [sys.executable, "-m", "seed_lsp.serve", "--device", "cpu", "--daemon", "off", "--log-level", "info"]


def frame(obj) -> bytes:
    body = json.dumps(obj).encode()
    return b"Content-Length: %d\r\n\r\n%s" % (len(body), body)


async def read_msg(reader: asyncio.StreamReader, timeout: float = 60.0) -> dict | None:
    """The next message (skipping the server's notifications); None when the connection closed."""
    while True:
        length = None
        while True:
            try:
                line = await asyncio.wait_for(reader.readline(), timeout)
            except ConnectionResetError:  # closed with our bytes unread: refused as well
                return None
            if not line:
                return None
            if not line.strip():
                break
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        msg = json.loads(await reader.readexactly(length))
        if "id" in msg:
            return msg


def initialize(msg_id, options: dict) -> bytes:
    return frame({"jsonrpc": "2.0", "id": msg_id, "method": "initialize",
                  "params": {"capabilities": {}, "initializationOptions": options}})


def listening_inodes() -> dict[str, str]:
    """inode -> "proto local-address" of every listening socket on this machine (/proc/net)."""
    found = {}
    for proto in ("tcp", "tcp6", "udp", "udp6"):
        path = Path(f"/proc/net/{proto}")
        for line in path.read_text().splitlines()[1:] if path.exists() else []:
            f = line.split()
            if proto.startswith("udp") or f[3] == "0A":
                found[f[9]] = f"{proto} {f[1]}"
    for line in Path("/proc/net/unix").read_text().splitlines()[1:]:
        f = line.split()
        if int(f[3], 16) & 0x10000 and len(f) >= 7:  # __SO_ACCEPTCON: a listening unix socket
            found[f[6]] = "unix " + (f[7] if len(f) > 7 else "")
    return found


def listeners_of(pid: int) -> list[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            m = re.match(r"socket:\[(\d+)\]", os.readlink(fd))
        except OSError:
            continue
        if m:
            inodes.add(m.group(1))
    return [addr for inode, addr in listening_inodes().items() if inode in inodes]


@pytest.mark.parametrize("args, says", [
    (["--tcp", "127.0.0.1:0"], "needs --token-file"),
    (["--tcp", "0.0.0.0:0", "--token-file", "T"], "loopback only"),
    (["--tcp", "192.168.1.5:2087", "--token-file", "T"], "loopback only"),
])
def test_tcp_refuses_without_a_token_file_or_off_loopback(args, says, tmp_path):
    argv = SERVE + [a.replace("T", str(tmp_path / "t")) for a in args]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and says in r.stderr


def test_token_file_open_to_others_is_refused(tmp_path):
    token = tmp_path / "token"
    token.write_text("x" * 40)
    token.chmod(0o644)
    argv = SERVE + ["--tcp", "127.0.0.1:0", "--token-file", str(token)]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "chmod 600" in r.stderr


@pytest.mark.timeout(180)
async def test_only_a_client_with_the_token_is_served(tiny_model_dir, tmp_path):
    token_file = tmp_path / "token"
    proc = await asyncio.create_subprocess_exec(
        *SERVE, "--model", str(tiny_model_dir), "--tcp", "127.0.0.1:0", "--token-file", str(token_file),
        stderr=asyncio.subprocess.PIPE)
    seen = ""
    while not (m := re.search(r"listening on 127\.0\.0\.1:(\d+)", seen)):
        line = (await asyncio.wait_for(proc.stderr.readline(), 60)).decode()
        assert line, seen
        seen += line
    port = int(m.group(1))
    token = token_file.read_text().strip()
    assert len(token) >= 32 and token_file.stat().st_mode & 0o777 == 0o600
    assert listeners_of(proc.pid) == [f"tcp 0100007F:{port:04X}"]  # one listener: 127.0.0.1:port

    async def connect():
        return await asyncio.open_connection("127.0.0.1", port)

    for first in (initialize(1, {}), initialize(2, {"token": "wrong" * 8}), initialize(3, {"token": token[:-1]}),
                  frame({"jsonrpc": "2.0", "id": 4, "method": "shutdown"}), b"Content-Length: 5\r\n\r\n{bad}",
                  initialize(5, {"seed-lsp": {"token": None}})):
        reader, writer = await connect()
        writer.write(first)
        reply = await read_msg(reader)
        assert reply is None or reply["error"]["code"] == -32600
        assert await read_msg(reader) is None  # and the connection is closed
        writer.close()

    reader, writer = await connect()
    writer.write(initialize(7, dict(FAST_OPTIONS, **{"seed-lsp": {"token": token}})))
    reply = await read_msg(reader)
    assert "capabilities" in reply["result"]
    intruder_r, intruder_w = await connect()  # a second connection while a session runs: closed
    intruder_w.write(initialize(8, {"token": token}))
    assert await read_msg(intruder_r) is None
    writer.write(frame({"jsonrpc": "2.0", "method": "initialized", "params": {}}))
    writer.write(frame(STATUS))
    assert (await read_msg(reader))["result"]["server"]["version"]
    writer.write(frame({"jsonrpc": "2.0", "id": 10, "method": "shutdown"}))
    assert (await read_msg(reader))["id"] == 10
    writer.write(frame({"jsonrpc": "2.0", "method": "exit"}))
    assert await asyncio.wait_for(proc.wait(), 60) == 0
    log = seen + (await proc.stderr.read()).decode()
    assert token not in log and "refused" in log


@pytest.mark.timeout(120)
async def test_stdio_server_listens_on_nothing(tiny_model_dir):
    proc = await asyncio.create_subprocess_exec(*SERVE, "--model", str(tiny_model_dir), stdin=asyncio.subprocess.PIPE,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    proc.stdin.write(initialize(1, FAST_OPTIONS))
    assert "result" in await read_msg(proc.stdout)
    proc.stdin.write(frame({"jsonrpc": "2.0", "method": "initialized", "params": {}}))
    proc.stdin.write(frame(STATUS))
    assert (await read_msg(proc.stdout))["result"]["loaded"] in (True, False)
    assert listeners_of(proc.pid) == []
    proc.stdin.close()
    assert await asyncio.wait_for(proc.wait(), 60) == 0
