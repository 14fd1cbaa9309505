"""The daemon's wire protocol: msgpack maps in length-prefixed frames over a Unix stream socket.

Frame: 4-byte big-endian unsigned length N, then N bytes of msgpack encoding one map.
N must be 1..MAX_FRAME; anything else (or bytes that are not one msgpack map) is a protocol
violation and the peer closes that connection. docs/daemon-protocol.md is the full contract;
this module holds the framing, the version, and the InfillJob/InfillResult <-> map conversions.

Pure functions plus two blocking socket helpers (used by the client); the asyncio daemon reads
frames with `read_frame_async`.
"""
from __future__ import annotations

import asyncio
import socket
import struct
from dataclasses import asdict, fields
from typing import Any

import msgpack

from runtime.jobs import InfillJob, InfillResult

PROTOCOL_VERSION = 1
MAX_FRAME = 8 * 1024 * 1024  # 8 MiB: far above any real prompt, small enough to never exhaust memory
HEADER = struct.Struct(">I")
OPS = ("hello", "infill", "cancel", "stats", "stop", "encode", "decode")
JOB_FIELDS = tuple(f.name for f in fields(InfillJob))


class ProtocolError(Exception):
    """The peer sent something that is not a valid frame; the connection must be closed."""


def encode_frame(msg: dict[str, Any]) -> bytes:
    body = msgpack.packb(msg, use_bin_type=True)
    if len(body) > MAX_FRAME:
        raise ProtocolError(f"frame of {len(body)} bytes exceeds the {MAX_FRAME}-byte limit")
    return HEADER.pack(len(body)) + body


def frame_length(header: bytes) -> int:
    (n,) = HEADER.unpack(header)
    if n == 0 or n > MAX_FRAME:
        raise ProtocolError(f"bad frame length {n} (limit {MAX_FRAME})")
    return n


def decode_body(body: bytes) -> dict[str, Any]:
    try:
        # msgpack's defaults already refuse non-str map keys; the body is bounded by MAX_FRAME,
        # and unpackb bounds every container by the body's length.
        msg = msgpack.unpackb(body, raw=False)
    except Exception as exc:  # msgpack raises several unrelated types for garbage
        raise ProtocolError(f"undecodable frame: {type(exc).__name__}") from None
    if not isinstance(msg, dict):
        raise ProtocolError("a frame must hold a map")
    return msg


async def read_frame_async(reader: asyncio.StreamReader) -> dict[str, Any] | None:
    """The next message, or None at a clean end of stream (EOF between frames)."""
    try:
        header = await reader.readexactly(HEADER.size)
    except asyncio.IncompleteReadError as exc:
        if exc.partial:
            raise ProtocolError("truncated frame header") from None
        return None
    n = frame_length(header)
    try:
        body = await reader.readexactly(n)
    except asyncio.IncompleteReadError:
        raise ProtocolError("truncated frame body") from None
    return decode_body(body)


def _recv_exactly(sock: socket.socket, n: int) -> bytes | None:
    chunks, got = [], 0
    while got < n:
        chunk = sock.recv(min(n - got, 1 << 20))
        if not chunk:
            if got:
                raise ProtocolError("truncated frame")
            return None
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def read_frame(sock: socket.socket) -> dict[str, Any] | None:
    """Blocking read of one message; None at a clean EOF."""
    header = _recv_exactly(sock, HEADER.size)
    if header is None:
        return None
    body = _recv_exactly(sock, frame_length(header))
    if body is None:
        raise ProtocolError("truncated frame")
    return decode_body(body)


def job_to_map(job: InfillJob) -> dict[str, Any]:
    return {name: getattr(job, name) for name in JOB_FIELDS}


def job_from_map(data: Any) -> InfillJob:
    """Build an InfillJob from a request's "job" map; unknown fields are an error (ValueError)."""
    if not isinstance(data, dict):
        raise ValueError("job must be a map")
    unknown = set(data) - set(JOB_FIELDS)
    if unknown:
        raise ValueError(f"unknown job fields: {sorted(unknown)}")
    try:
        return InfillJob(**data)
    except TypeError as exc:
        raise ValueError(str(exc)) from None


def result_to_map(res: InfillResult) -> dict[str, Any]:
    return asdict(res)


def result_from_map(data: dict[str, Any]) -> InfillResult:
    return InfillResult(
        text=str(data.get("text", "")),
        texts=[str(t) for t in data.get("texts", [])],
        tokens=int(data.get("tokens", 0)),
        steps=int(data.get("steps", 0)),
        stop_reason=str(data.get("stop_reason", "error")),
        confidence=float(data.get("confidence", 0.0)),
        timings={str(k): float(v) for k, v in dict(data.get("timings", {})).items()},
    )
