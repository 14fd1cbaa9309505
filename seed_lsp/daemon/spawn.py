"""Starting the daemon on demand: a detached `seed-lsp daemon` process, exactly one per socket.

Several editors may find the socket absent at the same moment. Each takes an flock on
<socket>.start.lock; the first spawns the daemon and waits until its socket accepts connections;
the others, once they get the lock, find it answering and spawn nothing. The daemon itself also
holds <socket>.pid for its whole life, so even a start outside this lock cannot make a second one.
The child gets its own session (it outlives the editor) and writes its log to <socket>.log, which it
rotates (at most ~8 MiB with its one backup, seed_lsp.daemon.logfile). It
stops by itself IDLE_EXIT_S after its last client disconnects (SEED_LSP_DAEMON_IDLE_EXIT overrides,
0 = never), so a daemon started on demand never stays resident for good.
"""
from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time
from pathlib import Path

import seed_lsp
from seed_lsp.daemon.paths import ensure_private_dir, sibling

IDLE_EXIT_S = 600.0


def idle_exit_s() -> float:
    try:
        return max(0.0, float(os.environ.get("SEED_LSP_DAEMON_IDLE_EXIT", IDLE_EXIT_S)))
    except ValueError:
        return IDLE_EXIT_S


class DaemonUnavailable(RuntimeError):
    """No daemon could be reached (or started) on the socket."""


def _acquire(fd: int, deadline: float) -> None:
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise DaemonUnavailable("timed out waiting for another editor to start the daemon")
            time.sleep(0.05)


def start_daemon(sock: Path, model: str | None, device: str, timeout: float,
                 fix_modes: bool = True) -> subprocess.Popen | None:
    """Start a detached daemon on `sock` unless one answers; exactly one wins under the lock.

    Returns the child process (None if another process started it) once the socket accepts
    connections; raises DaemonUnavailable if the daemon exits or does not come up in time.
    """
    from seed_lsp.daemon.cli import open_private_file, socket_answers

    ensure_private_dir(sock.parent, fix_modes=fix_modes)
    deadline = time.monotonic() + timeout
    lock_fd = open_private_file(sibling(sock, "start.lock"))
    try:
        _acquire(lock_fd, deadline)
        if socket_answers(sock):
            return None  # another editor started it while we waited for the lock
        log_path = sibling(sock, "log")
        cmd = [sys.executable, "-m", "seed_lsp.cli", "daemon", "--socket", str(sock), "--device", device,
               "--idle-exit", str(idle_exit_s()), "--log-file", str(log_path)]
        if model:
            cmd += ["--model", str(model)]
        env = dict(os.environ)
        root = str(Path(seed_lsp.__file__).resolve().parent.parent)  # works without an install too
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        log_fd = open_private_file(log_path, append=True)  # what the child says before its log is set up
        try:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log_fd, stderr=log_fd,
                                    env=env, start_new_session=True, close_fds=True)
        finally:
            os.close(log_fd)
        while time.monotonic() < deadline:
            if socket_answers(sock):
                return proc
            if proc.poll() is not None:
                raise DaemonUnavailable(f"daemon exited with code {proc.returncode}; see {sibling(sock, 'log')}")
            time.sleep(0.05)
        proc.terminate()
        raise DaemonUnavailable(f"daemon did not come up within {timeout:.0f}s")
    finally:
        fcntl.flock(lock_fd, fcntl.LOCK_UN)
        os.close(lock_fd)
