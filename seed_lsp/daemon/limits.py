"""What one peer may hold of the daemon, and who the peer is (SO_PEERCRED).

The daemon serves one user. Its socket sits in a 0700 directory and is itself 0600, and on top of
that every connection's peer credentials are read from the kernel (SO_PEERCRED: the pid, uid and gid
of the process that connected): a uid other than the daemon's own is refused with a log line before
a byte is read. Within that user, the limits below keep a buggy or hostile process from starving the
editors or growing the daemon's memory:

- connections per peer uid (`max_connections`; as only one uid gets in, this is the total);
- connections still waiting for their hello (`max_pre_hello`): over the cap the oldest one is
  dropped, as sshd's MaxStartups drops unauthenticated connections, so a slowloris holding hundreds
  of silent connections cannot keep an editor's fresh connection out; each must also say hello within
  `hello_timeout_s`; after that, each frame's body must follow its header within `frame_timeout_s`
  (a half-sent frame holds the memory its header announced, up to MAX_FRAME);
- connections per client id (`max_client_connections`): a hello over it is refused;
- requests in progress per client id (`max_pending`): an infill over it gets an error reply;
- replies waiting to be read: after each request the daemon waits for its unsent replies to drain
  below the transport's high-water mark before reading the next one (backpressure: a client that
  does not read stops being read), drops the client when they do not drain within
  `write_stall_s`, and drops it at once when they pass `max_write_buffer` bytes (infill answers
  arrive whether the client reads or not).
"""
from __future__ import annotations

import dataclasses
import socket
import struct
from typing import Any, NamedTuple

from seed_lsp.daemon.protocol import MAX_FRAME

_UCRED = struct.Struct("3i")  # struct ucred {pid_t pid; uid_t uid; gid_t gid;}


@dataclasses.dataclass(frozen=True)
class Limits:
    max_connections: int = 256  # per peer uid
    max_pre_hello: int = 64
    hello_timeout_s: float = 10.0
    frame_timeout_s: float = 30.0  # a frame's body must follow its header within this
    max_client_connections: int = 8
    max_pending: int = 64  # infill requests in progress (queued or running) per client id
    max_write_buffer: int = 2 * MAX_FRAME + (1 << 20)  # bytes of replies not yet read by the peer
    write_stall_s: float = 30.0
    write_high_water: int = 1 << 20  # the transport's drain threshold

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            if not getattr(self, f.name) > 0:
                raise ValueError(f"Limits.{f.name} must be > 0, got {getattr(self, f.name)!r}")
        if self.max_write_buffer <= MAX_FRAME:
            raise ValueError("Limits.max_write_buffer must hold at least one largest frame")


class PeerCred(NamedTuple):
    pid: int
    uid: int
    gid: int


def peer_credentials(transport: Any) -> PeerCred | None:
    """The connected process's (pid, uid, gid) from the kernel; None when the socket cannot say
    (not a Unix socket, or a platform without SO_PEERCRED): such a peer is refused."""
    sock = transport.get_extra_info("socket")
    opt = getattr(socket, "SO_PEERCRED", None)
    if sock is None or opt is None or sock.family != socket.AF_UNIX:
        return None
    try:
        return PeerCred(*_UCRED.unpack(sock.getsockopt(socket.SOL_SOCKET, opt, _UCRED.size)))
    except OSError:
        return None
