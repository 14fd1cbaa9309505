"""`seed-lsp serve`: run the language server on stdio (default) or loopback TCP (debugging).

    seed-lsp serve [--tcp 127.0.0.1:PORT] [--model DIR] [--device D] [--log-file F]
                   [--log-level debug|info|warning|error] [--daemon [auto|off]] [--daemon-socket PATH]

--model / --device are defaults; the client's initializationOptions override them.

Daemon mode (daemon_mode): `auto`, the default, sends jobs to the workstation daemon on the default
socket (or --daemon-socket), starting it when absent, and loads the model in-process when the daemon
cannot run (or serves another model). `off` always loads in-process. The order: --daemon, then
--daemon-socket (auto), then the environment variable SEED_LSP_DAEMON=auto|off (test suites and CI
set off), then auto.
"""
from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import os
import sys

from seed_lsp.logs import LspLogHandler, setup_logging
from seed_lsp.options import Options
from seed_lsp.server import build_server

log = logging.getLogger("seed_lsp.serve")
DAEMON_ENV = "SEED_LSP_DAEMON"


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="seed-lsp serve", description="seed-lsp language server (LSP over stdio)")
    p.add_argument("--tcp", metavar="HOST:PORT", help="listen on loopback TCP instead of stdio (debugging)")
    p.add_argument("--model", metavar="DIR", help="checkpoint directory (default: the embedded model)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N (default auto)")
    p.add_argument("--log-file", metavar="F", help="also write the log to this file")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    p.add_argument("--daemon", nargs="?", const="auto", default=None, choices=["auto", "off"],
                   help="auto (default): use the workstation daemon, starting it when absent, else load "
                        "in-process; off: always in-process. Default from $SEED_LSP_DAEMON, else auto")
    p.add_argument("--daemon-socket", metavar="PATH", help="daemon socket (implies --daemon auto)")
    return p.parse_args(argv)


def daemon_mode(args: argparse.Namespace, environ=os.environ) -> str:
    """"auto" or "off": --daemon, then --daemon-socket (auto), then $SEED_LSP_DAEMON, then "auto"."""
    if args.daemon:
        return args.daemon
    if args.daemon_socket:
        return "auto"
    env = environ.get(DAEMON_ENV, "").strip().lower()
    if env in ("auto", "off"):
        return env
    if env:
        log.warning("%s=%r is not auto|off; using auto", DAEMON_ENV, env)
    return "auto"


def loopback(spec: str) -> tuple[str, int]:
    host, _, port = spec.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    if host != "localhost" and not ipaddress.ip_address(host).is_loopback:
        raise ValueError(f"--tcp listens on loopback only, not {host}")
    return host, int(port)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(list(sys.argv[1:] if argv is None else argv))
    setup_logging(args.log_level, args.log_file)
    daemon = daemon_mode(args)
    ls = build_server(Options(model=args.model, device=args.device), daemon, args.daemon_socket)
    lsp_log = LspLogHandler(ls)
    logging.getLogger("seed_lsp").addHandler(lsp_log)

    ls.ready_hooks.append(lambda: lsp_log.attach(asyncio.get_running_loop()))

    if args.tcp:
        try:
            host, port = loopback(args.tcp)
        except ValueError as exc:
            print(f"seed-lsp serve: {exc}", file=sys.stderr)
            return 2
        ls.start_tcp(host, port)
    else:
        ls.start_io()
    return 0


if __name__ == "__main__":
    sys.exit(main())
