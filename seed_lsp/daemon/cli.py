"""`seed-lsp daemon`: run the workstation daemon in the foreground, or query / stop a running one.

    seed-lsp daemon [--socket PATH] [--model DIR] [--device D] [--max-inflight N] [--idle-exit S]
                    [--log-file FILE]
    seed-lsp daemon status [--socket PATH]     prints JSON; exit 1 when no daemon answers
    seed-lsp daemon stop [--socket PATH]       exit 1 when no daemon answers

Start-up order: make the socket directory private (0700, ours), take the single-daemon lock
(<socket>.pid, flock held for the daemon's life, so a second daemon on the same path exits at once),
remove a stale socket (one nobody listens on), load the engine, then bind; clients therefore find a
socket only once the model is ready. SIGTERM/SIGINT stop it cleanly (socket removed).
With --log-file (what a daemon started on demand gets: <socket>.log) the log is bounded by rotation
(seed_lsp.daemon.logfile); without it, the log goes to stderr.
"""
from __future__ import annotations

import argparse
import asyncio
import fcntl
import json
import logging
import os
import signal
import socket
import stat
import sys
import time
from pathlib import Path

from seed_lsp.daemon.paths import (
    UnsafePathError,
    check_owned,
    ensure_private_dir,
    resolve_socket_path,
    sibling,
)

log = logging.getLogger("seed_lsp.daemon")


def open_private_file(path: Path, append: bool = False) -> int:
    """Open (create 0600) a lock/pid/log file beside the socket, refusing one owned by someone else."""
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | (os.O_APPEND if append else 0)
    fd = os.open(path, flags, 0o600)
    st = os.fstat(fd)
    if st.st_uid != os.geteuid() or not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise UnsafePathError(f"{path} is not a regular file of yours; refusing it")
    os.fchmod(fd, 0o600)
    return fd


def socket_answers(path: Path) -> bool:
    """Whether a daemon listens on `path` (a full backlog, EAGAIN, is a daemon too busy to accept)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(1.0)
        try:
            s.connect(str(path))
            return True
        except BlockingIOError:
            return True
        except OSError:
            return False


def remove_stale_socket(path: Path) -> None:
    st = check_owned(path, "socket")
    if st is None:
        return
    if not stat.S_ISSOCK(st.st_mode):
        raise UnsafePathError(f"{path} exists and is not a socket; refusing to replace it")
    if socket_answers(path):
        raise UnsafePathError(f"a daemon already listens on {path}")
    path.unlink()  # stale: left by a daemon that was killed


def run_daemon(socket_path: str | None, model: str | None, device: str, max_inflight: int | None,
               idle_exit_s: float = 0.0, log_handler=None) -> int:
    sock = resolve_socket_path(socket_path)
    ensure_private_dir(sock.parent, fix_modes=socket_path is None)
    lock_fd = open_private_file(sibling(sock, "pid"))
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print(f"seed-lsp daemon: another daemon already runs on {sock}", file=sys.stderr)
        return 1
    os.ftruncate(lock_fd, 0)
    os.write(lock_fd, f"{os.getpid()}\n".encode())
    remove_stale_socket(sock)

    from seed_lsp.daemon.server import DaemonServer
    from seed_lsp.engine_factory import load_local

    t0 = time.perf_counter()
    engine = load_local(model, device)  # the same set-up as an in-process server: threads, warm-up
    log.info("model loaded and warmed up in %.1fs", time.perf_counter() - t0)
    stats = engine.stats()
    server = DaemonServer(engine, sock, model=str(stats.get("model", model or "embedded")),
                          device=str(stats.get("device", device)),
                          max_inflight=max_inflight or getattr(engine, "max_batch", 8), idle_exit_s=idle_exit_s)

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, server.stop)
        rotate = asyncio.create_task(_check_log(log_handler)) if log_handler is not None else None
        try:
            await server.run(ready=lambda: print(f"seed-lsp daemon: listening on {sock}", flush=True))
        finally:
            if rotate is not None:
                rotate.cancel()

    try:
        asyncio.run(serve())
    finally:
        engine.close()
        os.close(lock_fd)
    return 0


async def _check_log(handler, every_s: float = 30.0) -> None:
    """Rotate the log file when output that bypassed logging pushed it over its size."""
    while True:
        await asyncio.sleep(every_s)
        handler.check()


def _request(socket_path: str | None, op: str, timeout: float = 10.0) -> dict | None:
    from seed_lsp.daemon.client import DaemonUnavailable, RemoteEngine

    try:
        remote = RemoteEngine(resolve_socket_path(socket_path), start=False, client_id=f"cli-{op}",
                              role="control")
        remote.connect()
    except (DaemonUnavailable, UnsafePathError, OSError):
        return None
    try:
        return remote.call(op, timeout=timeout)
    except DaemonUnavailable:
        return None
    finally:
        remote.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="seed-lsp daemon", description=__doc__.split("\n\n")[0])
    parser.add_argument("action", nargs="?", choices=("run", "status", "stop"), default="run")
    parser.add_argument("--socket", default=None, help="socket path (default: under $XDG_RUNTIME_DIR)")
    parser.add_argument("--model", default=None, help="checkpoint directory (default: embedded model)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--max-inflight", type=int, default=None,
                        help="jobs admitted into the engine at once (default: its batch size)")
    parser.add_argument("--idle-exit", type=float, default=0.0, metavar="S",
                        help="stop after S seconds without any client connected (default 0: never; "
                             "daemons started on demand by editors get 600)")
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument("--log-file", default=None, metavar="FILE",
                        help="log here (and send stdout/stderr here), rotated at 4 MiB with one backup "
                             "(default: stderr, unbounded)")
    args = parser.parse_args(argv)
    handler = None
    if args.log_file and args.action == "run":
        from seed_lsp.daemon.logfile import log_to_file

        handler = log_to_file(args.log_file, args.log_level)
    else:
        logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                            format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        if args.action == "run":
            return run_daemon(args.socket, args.model, args.device, args.max_inflight, args.idle_exit, handler)
        sock = resolve_socket_path(args.socket)
        if args.action == "status":
            stats = _request(args.socket, "stats")
            if stats is None:
                print(json.dumps({"running": False, "socket": str(sock)}))
                return 1
            print(json.dumps({"running": True, **stats}, indent=2, sort_keys=True))
            return 0
        if _request(args.socket, "stop") is None:
            print(f"seed-lsp daemon: no daemon answers on {sock}", file=sys.stderr)
            return 1
        deadline = time.monotonic() + 10
        while sock.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        return 0
    except UnsafePathError as exc:
        print(f"seed-lsp daemon: {exc}", file=sys.stderr)
        return 2
