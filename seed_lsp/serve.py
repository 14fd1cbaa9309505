"""`seed-lsp serve`: run the language server on stdio (default) or loopback TCP (debugging).

    seed-lsp serve [--tcp 127.0.0.1:PORT --token-file F] [--model DIR] [--device D] [--log-file F]
                   [--log-level debug|info|warning|error] [--daemon [auto|off]] [--daemon-socket PATH]

--model / --device are defaults; the client's initializationOptions override them. --tcp needs
--token-file: the client's initialize must carry that file's token (seed_lsp/transport.py); a file
that does not exist is created with a new random token (0600).

Exit: end of input, SIGTERM, SIGINT or `exit` after `shutdown` -> 0 (`exit` alone: 1, as LSP says),
after the engine is closed (a load in progress is waited for, up to EXIT_WAIT_S), so that no thread
is inside torch when the interpreter finalizes.

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

from seed_lsp import transport
from seed_lsp.logs import LspLogHandler, setup_logging
from seed_lsp.options import Options
from seed_lsp.server import build_server

log = logging.getLogger("seed_lsp.serve")
DAEMON_ENV = "SEED_LSP_DAEMON"
EXIT_WAIT_S = 60.0


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="seed-lsp serve", description="seed-lsp language server (LSP over stdio)")
    p.add_argument("--tcp", metavar="HOST:PORT", help="listen on loopback TCP instead of stdio (debugging; "
                                                      "needs --token-file)")
    p.add_argument("--token-file", metavar="F", help="with --tcp: the token clients must send in initialize's "
                                                     "initializationOptions.token (created 0600 when absent)")
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
    try:
        if host != "localhost" and not ipaddress.ip_address(host).is_loopback:
            raise ValueError(f"--tcp listens on loopback only, not {host}")
        if not 0 <= int(port) <= 65535:
            raise ValueError("the port must be 0..65535")
        return host, int(port)
    except ValueError as exc:
        raise ValueError(f"--tcp {spec!r}: {exc}") from None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(list(sys.argv[1:] if argv is None else argv))
    token = None
    if args.tcp:
        try:
            host, port = loopback(args.tcp)
            if not args.token_file:
                raise ValueError("--tcp needs --token-file F: clients must present its token")
            token = transport.load_token(args.token_file)
        except ValueError as exc:
            print(f"seed-lsp serve: {exc}", file=sys.stderr)
            return 2
    setup_logging(args.log_level, args.log_file)
    daemon = daemon_mode(args)
    ls = build_server(Options(model=args.model, device=args.device), daemon, args.daemon_socket)
    lsp_log = LspLogHandler(ls)
    logging.getLogger("seed_lsp").addHandler(lsp_log)

    ls.ready_hooks.append(lambda: lsp_log.attach(asyncio.get_running_loop()))
    try:
        if token is not None:
            return transport.run_tcp(ls, host, port, token)
        return transport.run_stdio(ls)
    finally:
        ls.close(wait=EXIT_WAIT_S)


if __name__ == "__main__":
    sys.exit(main())
