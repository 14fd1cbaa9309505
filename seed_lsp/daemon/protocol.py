"""The daemon's wire protocol: msgpack maps in length-prefixed frames over a Unix stream socket.

Frame: 4-byte big-endian unsigned length N, then N bytes of msgpack encoding one map.
N must be 1..MAX_FRAME; anything else (or bytes that are not one msgpack map) is a protocol
violation and the peer closes that connection. docs/daemon-protocol.md is the full contract;
this module holds the framing, the version, and the InfillJob/InfillResult <-> map conversions.

Pure functions plus two blocking socket helpers (used by the client); the asyncio daemon reads
frames with `read_frame_async`.

A frame that decodes is still checked field by field before anything acts on it (hello_fields,
check_request, job_from_map): a wrong type or size is a ValueError naming the field, which the
daemon answers as an error reply to that request alone.
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
MAX_CLIENT_ID = 256  # characters; the daemon remembers recent client ids (fairness, stats)
ROLES = ("editor", "control")
# The fields each op needs, with their types (a request id is checked before these).
REQUEST_FIELDS: dict[str, dict[str, tuple[type, ...]]] = {
    "infill": {"job": (dict,)}, "cancel": {"target": (int, str)}, "stats": {}, "stop": {},
    "encode": {"text": (str,)}, "decode": {"ids": (list,)},
}
MAX_TOKEN_ID = 2 ** 31  # decode ids past this are not ids of any tokenizer
MAX_REQUEST_ID = 128  # characters of a str request id (echoed in the reply, so bounded)


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


def _no_ext(code: int, data: bytes) -> Any:
    raise ValueError(f"msgpack ext type {code} is not part of the protocol")


def decode_body(body: bytes) -> dict[str, Any]:
    try:
        # msgpack's defaults already refuse non-str map keys and nest at most 1024 deep (a deeper
        # frame is a StackError); the body is bounded by MAX_FRAME, and unpackb bounds every
        # container by the body's length. Ext types are refused (timestamps, ext -1, decode to
        # msgpack.Timestamp, which every field check refuses as the wrong type).
        msg = msgpack.unpackb(body, raw=False, ext_hook=_no_ext)
    except Exception as exc:  # msgpack raises several unrelated types for garbage
        raise ProtocolError(f"undecodable frame: {type(exc).__name__}") from None
    if not isinstance(msg, dict):
        raise ProtocolError("a frame must hold a map")
    return msg


async def read_frame_async(reader: asyncio.StreamReader, body_timeout: float | None = None) -> dict[str, Any] | None:
    """The next message, or None at a clean end of stream (EOF between frames). Once a header has
    come, the rest of the frame must follow within `body_timeout` seconds (a peer must not hold a
    half-sent frame, and the memory it has announced, for ever)."""
    try:
        header = await reader.readexactly(HEADER.size)
    except asyncio.IncompleteReadError as exc:
        if exc.partial:
            raise ProtocolError("truncated frame header") from None
        return None
    n = frame_length(header)
    try:
        body = await asyncio.wait_for(reader.readexactly(n), body_timeout)
    except asyncio.IncompleteReadError:
        raise ProtocolError("truncated frame body") from None
    except asyncio.TimeoutError:
        raise ProtocolError(f"frame not complete within {body_timeout:g}s of its header") from None
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


def _field_error(name: str, what: str, value: Any) -> ValueError:
    return ValueError(f"field {name!r} must be {what}, got {type(value).__name__}")


def hello_fields(msg: dict[str, Any]) -> tuple[str | None, str]:
    """(client id or None for an anonymous client, role) of a hello, else ValueError naming the field."""
    client, role = msg.get("client"), msg.get("role", "editor")
    if client is not None and not isinstance(client, str):
        raise _field_error("client", "a str", client)
    if client is not None and len(client) > MAX_CLIENT_ID:
        raise ValueError(f"field 'client' must be at most {MAX_CLIENT_ID} characters, got {len(client)}")
    if role is None:
        role = "editor"
    if not isinstance(role, str) or role not in ROLES:
        raise _field_error("role", f"one of {ROLES}", role)
    return client or None, role


def request_id(msg: dict[str, Any]) -> int | str:
    """The request's id, else ValueError: an int (msgpack bounds it to 64 bits) or a str of at most
    MAX_REQUEST_ID characters (it is echoed in the reply)."""
    rid = msg.get("id")
    if isinstance(rid, bool) or not isinstance(rid, (int, str)):
        raise ValueError("request id must be an int or a string")
    if isinstance(rid, str) and len(rid) > MAX_REQUEST_ID:
        raise ValueError(f"request id must be at most {MAX_REQUEST_ID} characters, got {len(rid)}")
    return rid


def check_request(msg: dict[str, Any]) -> None:
    """ValueError naming the field unless `msg` (a request after the hello, its id already checked)
    carries a known op and the fields that op reads, with their types."""
    op = msg.get("op")
    if not isinstance(op, str) or op not in REQUEST_FIELDS:
        raise ValueError(f"unknown op {op!r}" if isinstance(op, str) and len(op) <= 40 else "field 'op' must be a known op")
    for name, types in REQUEST_FIELDS[op].items():
        value = msg.get(name)
        if not isinstance(value, types) or isinstance(value, bool):
            raise _field_error(name, " or ".join(t.__name__ for t in types), value)
    if op == "decode" and not all(isinstance(i, int) and not isinstance(i, bool) and 0 <= i < MAX_TOKEN_ID
                                  for i in msg["ids"]):
        raise ValueError(f"field 'ids' must be a list of token ids (ints in [0, {MAX_TOKEN_ID}))")


def job_to_map(job: InfillJob) -> dict[str, Any]:
    return {name: getattr(job, name) for name in JOB_FIELDS}


def job_from_map(data: Any) -> InfillJob:
    """Build an InfillJob from a request's "job" map; unknown or ill-typed fields are a ValueError
    naming the field (InfillJob.check). Strategy params are the engine's to check (Engine.validate)."""
    if not isinstance(data, dict):
        raise ValueError("field 'job' must be a map")
    unknown = set(data) - set(JOB_FIELDS)
    if unknown:
        raise ValueError(f"unknown job fields: {sorted(str(k)[:40] for k in unknown)[:8]}")
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
