"""workspace/executeCommand seed.status: what the server is doing, for status bars and bug reports.

Answers {"server": {...}, "engine": {...}} with the model, device, engine counters (jobs, cancelled,
tokens, steps, latency percentiles) and the server's own request counters (requests, items, empty,
cancelled, stale, cache hits, latency percentiles as the editor sees them). Also flattened at the top
level: model, device, jobs, cancelled, enabled — what a status bar reads. "backend" says where the
model runs ("daemon" with its socket, or "in-process"); "workspace" the cross-file context (state
off/scanning/ready/error, roots, files indexed, index version, open documents); "last_job" what the
last completion job sent to the model (sizes, the workspace files in its context, and the first
4096 characters of its prefix, where that context sits).
"""
from __future__ import annotations

import dataclasses
import os


def rss_mb() -> float:
    """Resident memory of this process (Linux /proc; 0 where unavailable)."""
    try:
        with open(f"/proc/{os.getpid()}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return 0.0


def status_info(ls) -> dict:
    engine = ls.slot.current()
    estats: dict = {}
    if engine is not None:
        try:
            estats = engine.stats()
        except Exception as exc:  # a daemon that went away must not break status
            estats = {"error": str(exc)}
    server = ls.stats.snapshot()
    server.update(cache_entries=len(ls.cache), pending=len(ls.pending), rss_mb=round(rss_mb(), 1),
                  position_encoding=ls.encoding, version=ls.version)
    socket = getattr(engine, "socket_path", None)  # a RemoteEngine (seed_lsp.daemon.client) has one
    return {
        "enabled": ls.options.enable,
        "backend": None if engine is None else ("daemon" if socket else "in-process"),
        "daemon_socket": str(socket) if socket else None,
        "model": estats.get("model") or ls.options.model or "(embedded)",
        "device": estats.get("device", ls.options.device),
        "loaded": engine is not None,
        "load_error": ls.slot.error,
        "jobs": estats.get("jobs", 0),
        "cancelled": estats.get("cancelled", 0),
        "engine": estats,
        "server": server,
        "options": dataclasses.asdict(ls.options),
        "workspace": ls.context.info(),
        "last_job": ls.last_job,
    }


async def status(ls, *args) -> dict:
    return status_info(ls)


def register(ls) -> None:
    ls.command("seed.status")(status)
