"""Where the daemon's socket lives, and the checks that keep it private to one user.

Default socket: $XDG_RUNTIME_DIR/seed-lsp/daemon.sock, else /tmp/seed-lsp-<uid>/daemon.sock.
The directory must be a real directory (not a symlink) owned by the current user with mode 0700;
a directory we create, or the default one, is chmod-ed to 0700 explicitly (umask is not trusted);
an existing directory the user named with looser modes is refused rather than changed. Sockets and
lock files beside the socket must be owned by the current user too. Any violation raises
UnsafePathError with a message a user can act on.
"""
from __future__ import annotations

import os
import socket
import stat
import time
from pathlib import Path

SOCKET_NAME = "daemon.sock"
MAX_SOCKET_PATH = 107  # sockaddr_un.sun_path is 108 bytes including the terminating NUL


class UnsafePathError(RuntimeError):
    """The socket path is not private to this user; the daemon refuses to use it."""


def default_socket_path() -> Path:
    runtime_dir = os.environ.get("XDG_RUNTIME_DIR")
    if runtime_dir and os.path.isdir(runtime_dir):
        return Path(runtime_dir) / "seed-lsp" / SOCKET_NAME
    return Path("/tmp") / f"seed-lsp-{os.geteuid()}" / SOCKET_NAME


def resolve_socket_path(path: str | os.PathLike | None) -> Path:
    sock = Path(path).expanduser().absolute() if path else default_socket_path()
    if len(os.fsencode(str(sock))) > MAX_SOCKET_PATH:
        raise UnsafePathError(f"socket path is longer than {MAX_SOCKET_PATH} bytes: {sock}")
    return sock


def _check_owner(path: Path, st: os.stat_result, what: str) -> None:
    if st.st_uid != os.geteuid():
        raise UnsafePathError(
            f"{what} {path} is owned by uid {st.st_uid}, not by you (uid {os.geteuid()}); "
            "refusing to use it: choose another --socket path"
        )


def ensure_private_dir(directory: Path, *, fix_modes: bool) -> None:
    """Create `directory` (0700) if absent; else check it is ours and private.

    fix_modes: chmod an existing directory of ours with loose modes to 0700 (the default
    directory); when False such a directory is refused (a directory the user named).
    """
    try:
        directory.mkdir(mode=0o700, parents=False)
        os.chmod(directory, 0o700)  # mkdir's mode is filtered by umask
        created = True
    except FileExistsError:
        created = False
    except FileNotFoundError:
        directory.parent.mkdir(parents=True, exist_ok=True)
        return ensure_private_dir(directory, fix_modes=fix_modes)
    st = os.lstat(directory)
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafePathError(f"{directory} is not a directory (a symlink or a file); refusing it")
    _check_owner(directory, st, "directory")
    if stat.S_IMODE(st.st_mode) & 0o077:
        if not (fix_modes or created):
            raise UnsafePathError(
                f"directory {directory} is accessible by other users (mode "
                f"{stat.S_IMODE(st.st_mode):04o}); use a private (0700) directory for the socket"
            )
        os.chmod(directory, 0o700)
        if stat.S_IMODE(os.lstat(directory).st_mode) & 0o077:
            raise UnsafePathError(f"cannot make {directory} private (chmod 0700 did not hold)")


def check_private_dir(directory: Path) -> None:
    """Client side: the directory exists, is ours and nobody else can enter it."""
    st = os.lstat(directory)
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafePathError(f"{directory} is not a directory")
    _check_owner(directory, st, "directory")
    if stat.S_IMODE(st.st_mode) & 0o077:
        raise UnsafePathError(f"directory {directory} is accessible by other users")


def check_owned(path: Path, what: str = "socket") -> os.stat_result | None:
    """lstat `path` and refuse it if it belongs to someone else; None when it does not exist."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    _check_owner(path, st, what)
    return st


def connect_unix(sock: socket.socket, path: Path, timeout: float) -> None:
    """Connect `sock` to a Unix socket, waiting out a full listen backlog (EAGAIN: the daemon is
    there but has not accepted a burst of connections yet, e.g. beside hundreds of silent ones)
    for up to `timeout` seconds; other errors (no listener: ECONNREFUSED) raise at once."""
    deadline = time.monotonic() + timeout
    sock.settimeout(timeout)
    while True:
        try:
            sock.connect(str(path))
            return
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def sibling(sock: Path, suffix: str) -> Path:
    """A file beside the socket: daemon.sock -> daemon.sock.<suffix> (locks, log)."""
    return sock.with_name(sock.name + "." + suffix)
