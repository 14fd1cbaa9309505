"""`seed-lsp daemon`: run the workstation daemon in the foreground, or query / stop a running one.

    seed-lsp daemon [--socket PATH] [--model DIR] [--device D] [--max-inflight N] [--idle-exit S]
    seed-lsp daemon status [--socket PATH]     prints JSON; exit 1 when no daemon answers
    seed-lsp daemon stop [--socket PATH]       exit 1 when no daemon answers

Start-up order: make the socket directory private (0700, ours), take the single-daemon lock
(<socket>.pid, flock held for the daemon's life, so a second daemon on the same path exits at once),
remove a stale socket (one nobody listens on), load the engine, then bind; clients therefore find a
socket only once the model is ready. SIGTERM/SIGINT stop it cleanly (socket removed).
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


def open_private_file(path: Path) -> int:
    """Open (create 0600) a lock/pid file beside the socket, refusing one owned by someone else."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    st = os.fstat(fd)
    if st.st_uid != os.geteuid() or not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise UnsafePathError(f"{path} is not a regular file of yours; refusing it")
    os.fchmod(fd, 0o600)
    return fd


def socket_answers(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(1.0)
        try:
            s.connect(str(path))
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
               idle_exit_s: float = 0.0) -> int:
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
        await server.run(ready=lambda: print(f"seed-lsp daemon: listening on {sock}", flush=True))

    try:
        asyncio.run(serve())
    finally:
        engine.close()
        os.close(lock_fd)
    return 0


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
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        if args.action == "run":
            return run_daemon(args.socket, args.model, args.device, args.max_inflight, args.idle_exit)
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
