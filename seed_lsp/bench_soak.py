"""`seed-lsp bench soak`: two language servers on one daemon, a scripted person typing for M minutes.

    seed-lsp bench soak [--minutes 10] [--out F.json] [--plot F.png] [--model DIR] [--device D]
                        [--files 3] [--interval-ms 50] [--word-pause-ms 150] [--line-pause-ms 400]
                        [--patience-s 5] [--warmup-s S] [--bucket-s 60] [--seed N]

Starts a daemon (`seed-lsp daemon` on a temporary socket, its log rotated beside it) and two servers
as editors start them (`seed-lsp serve --daemon-socket`), then runs one person per server, each with
`--files` open documents. The person (bench_person.py) types statements into them a key at a time
(every key a didChange and an inline completion request; the previous request, if still in flight,
is cancelled with $/cancelRequest), deletes words and lines, pastes blocks, fills selections
(seed.fillSelection) and holes (seed.fillHoles; the client applies the WorkspaceEdits as an editor
does, or refuses a stale one), and asks for seed.status now and then.

Reports, as JSON: requests by kind and how each ended (completed, cancelled — by the client or
superseded / made stale by the server —, errors, and unanswered: no reply by the end plus a grace of
30 s), crashes (a process that exited before it was told to, or with a code other than 0),
tracebacks on the servers' stderr while the person typed, and errors while shutting down (an error
answer to `shutdown`, a traceback after it),
daemon restarts, the daemon's RSS after the model load, after the warm-up (`--warmup-s`, default a
tenth of the run, at least 30 s, capped at 60 s) and at the end (growth after the warm-up in %), and
per bucket (`--bucket-s`, default a minute): requests, outcomes, latency p50/p95/p99 of completed
inline completions and fills, RSS, the machine's load average. `--plot` draws the buckets. Not a
test: numbers only (exit 1 when a request went unanswered or something crashed).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from lsprotocol import types
from pygls.lsp.client import LanguageClient

from runtime.stats import percentile
from seed_lsp.bench_lsp import server_rss_mb
from seed_lsp.bench_person import Person, Tally

GRACE_S = 30.0


def _latency(values: list[float]) -> dict:
    return {q: round(percentile(values, int(q[1:])), 1) for q in ("p50", "p95", "p99")}


async def _start_daemon(sock: Path, args) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "seed_lsp.cli", "daemon", "--socket", str(sock), "--device", args.device,
           "--log-file", str(sock.with_name(sock.name + ".log"))]
    cmd += ["--model", args.model] if args.model else []
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    from seed_lsp.daemon.cli import socket_answers

    deadline = time.monotonic() + 600
    while not (sock.exists() and socket_answers(sock)):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"seed-lsp bench soak: the daemon did not start; see {sock}.log")
        await asyncio.sleep(0.2)
    return proc


async def _start_server(name: str, sock: Path, args, stderr_lines: list[str]) -> LanguageClient:
    client = LanguageClient(name, "1")
    cmd = [sys.executable, "-m", "seed_lsp.cli", "serve", "--device", args.device, "--log-level", "warning",
           "--daemon-socket", str(sock)]
    await client.start_io(*cmd, *(["--model", args.model] if args.model else []))

    async def drain() -> None:  # pygls pipes the server's stderr and never reads it: a full pipe would block it
        async for line in client._server.stderr:
            stderr_lines.append(f"{name}: {line.decode(errors='replace').rstrip()}")
    client.drain_task = asyncio.ensure_future(drain())
    caps = types.ClientCapabilities(
        text_document=types.TextDocumentClientCapabilities(inline_completion=types.InlineCompletionClientCapabilities()),
        workspace=types.WorkspaceClientCapabilities(
            apply_edit=True, workspace_edit=types.WorkspaceEditClientCapabilities(document_changes=True)))
    init = {"confidenceFloor": 0.0, "maxTokens": args.max_tokens}
    await client.initialize_async(types.InitializeParams(capabilities=caps, initialization_options=init))
    client.initialized(types.InitializedParams())
    return client


async def _status(client) -> dict:
    return await client.workspace_execute_command_async(types.ExecuteCommandParams(command="seed.status"))


def _procs_alive(daemon: subprocess.Popen, clients: list) -> dict:
    return {"daemon": daemon.poll() is None, **{f"server{i}": c._server.returncode is None for i, c in enumerate(clients)}}


async def run(args) -> dict:
    base = Path(tempfile.mkdtemp(prefix="sl-soak-", dir="/tmp"))  # short: sun_path holds 107 bytes
    sock = base / "run" / "d.sock"
    sock.parent.mkdir(mode=0o700)
    stderr_lines: list[str] = []
    daemon = await _start_daemon(sock, args)
    rss_loaded = server_rss_mb(daemon.pid)
    clients = list(await asyncio.gather(*(_start_server(f"soak{i}", sock, args, stderr_lines) for i in range(2))))
    try:
        statuses = [await _status(c) for c in clients]
        while not all(s["loaded"] or s["load_error"] for s in statuses):
            await asyncio.sleep(0.2)
            statuses = [await _status(c) for c in clients]
        backends = [s["backend"] for s in statuses]
        if backends != ["daemon", "daemon"]:
            raise SystemExit(f"seed-lsp bench soak: servers not on the daemon: {backends} {statuses[0]['load_error']}")
        tally = Tally()
        people = [Person(c, f"s{i}", tally, args, seed=args.seed + i) for i, c in enumerate(clients)]
        for p in people:
            p.open_files(args.files)

        duration = args.minutes * 60.0
        warmup = args.warmup_s if args.warmup_s is not None else min(60.0, max(30.0, duration / 10))
        warmup = min(warmup, duration / 2)
        t0 = time.monotonic()
        load_before = os.getloadavg()
        samples: list[dict] = []
        crashed: dict[str, bool] = {}

        async def sampler() -> None:
            marks = [warmup, duration] + [k * args.bucket_s for k in range(1, int(duration // args.bucket_s) + 1)]
            for mark in sorted(set(marks)):
                await asyncio.sleep(max(0.0, t0 + mark - time.monotonic()))
                alive = _procs_alive(daemon, clients)
                crashed.update({k: True for k, ok in alive.items() if not ok})
                samples.append({"t": round(time.monotonic() - t0, 1), "daemon_rss_mb": round(server_rss_mb(daemon.pid), 1),
                                "servers_rss_mb": [round(server_rss_mb(c._server.pid), 1) for c in clients],
                                "load_1m": round(os.getloadavg()[0], 2), "warmup": mark == warmup})
        sampling = asyncio.ensure_future(sampler())
        await asyncio.gather(*(p.run(t0 + duration) for p in people))
        typing_s = time.monotonic() - t0
        outstanding = tally.outstanding()
        if outstanding:
            await asyncio.wait(outstanding, timeout=GRACE_S)
        sampling.cancel()
        rss_end = server_rss_mb(daemon.pid)
        alive = _procs_alive(daemon, clients)
        crashed.update({k: True for k, ok in alive.items() if not ok})
        finals = [await _status(c) for c in clients if c._server.returncode is None]
        from seed_lsp.daemon.client import RemoteEngine

        control = RemoteEngine(sock, start=False, client_id="bench-soak", role="control")
        try:
            dstats = control.stats()
        finally:
            control.close()
    finally:
        at_shutdown = len(stderr_lines)
        for c in clients:
            try:
                await asyncio.wait_for(c.shutdown_async(None), 30)
                c.exit(None)
                await asyncio.wait_for(c.stop(), 30)
            except Exception as exc:  # an error reply to shutdown, or a dead server (counted below)
                stderr_lines.append(f"{c.name}: shutdown answered {exc!r}")
        stop = subprocess.run([sys.executable, "-m", "seed_lsp.cli", "daemon", "stop", "--socket", str(sock)],
                              capture_output=True, timeout=120)
        try:
            daemon.wait(30)
        except subprocess.TimeoutExpired:
            daemon.kill()
        log_bytes = sum(p.stat().st_size for p in sock.parent.glob("d.sock.log*"))
        shutil.rmtree(base, ignore_errors=True)

    warm = next((s["daemon_rss_mb"] for s in samples if s["warmup"]), rss_end)
    report = tally.report(t0, duration, args.bucket_s, samples)
    tracebacks = [line for line in stderr_lines[:at_shutdown] if "Traceback" in line]
    shutdown_errors = [line for line in stderr_lines[at_shutdown:] if "Traceback" in line or "shutdown answered" in line]
    codes = [c._server.returncode for c in clients]
    crashed.update({f"server{i}": True for i, code in enumerate(codes) if code != 0})
    return {
        "date": date.today().isoformat(), "machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
        "load_avg_before": [round(x, 2) for x in load_before], "load_avg_after": [round(x, 2) for x in os.getloadavg()],
        "model": statuses[0]["model"], "device": statuses[0]["device"], "servers": 2, "files_per_server": args.files,
        "minutes": args.minutes, "typing_s": round(typing_s, 1), "warmup_s": warmup, "bucket_s": args.bucket_s,
        **report["totals"],
        "crashes": sum(crashed.values()), "crashed": sorted(crashed), "tracebacks": len(tracebacks),
        "shutdown_errors": len(shutdown_errors),
        "daemon_restarts": len({s["engine"].get("pid") for s in finals} - {daemon.pid, None}),
        "exit_codes": {"daemon": daemon.returncode, "daemon_stop": stop.returncode,
                       "servers": codes},
        "rss_mb": {"daemon_loaded": round(rss_loaded, 1), "daemon_after_warmup": warm, "daemon_end": round(rss_end, 1),
                   "daemon_max": max([s["daemon_rss_mb"] for s in samples] + [rss_end]),
                   "growth_after_warmup_pct": round(100 * (rss_end - warm) / warm, 2) if warm else None},
        "daemon": {k: dstats.get(k) for k in ("jobs_done", "clients_served", "bad_frames", "refused", "dropped",
                                               "cancelled", "latency_ms", "tokens_per_step")},
        "daemon_log_bytes": log_bytes,
        "server_counters": [s["server"] for s in finals],
        "stderr_tail": stderr_lines[-12:],
        "per_bucket": report["buckets"],
    }


def plot(report: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    buckets = report["per_bucket"]
    mins = [b["t_end_s"] / 60 for b in buckets]
    fig, (lat, rate, rss) = plt.subplots(3, 1, figsize=(8, 9), sharex=True)
    for q, style in (("p50", "-"), ("p95", "--"), ("p99", ":")):
        lat.plot(mins, [b["inline_ms"][q] for b in buckets], style, marker="o", label=f"inline {q}")
    lat.plot(mins, [b["fill_ms"]["p50"] for b in buckets], "-", marker="s", label="fill p50")
    lat.set_ylabel("latency (ms)")
    lat.legend(fontsize=8)
    for key in ("requests", "completed", "cancelled"):
        rate.plot(mins, [b[key] / b["seconds"] for b in buckets], marker="o", label=key)
    rate.set_ylabel("per second")
    rate.legend(fontsize=8, loc="upper left")
    load = rate.twinx()
    load.plot(mins, [b["load_avg_1m"] for b in buckets], color="grey", linestyle=":", marker=".", label="load avg (1 min)")
    load.set_ylabel("machine load", color="grey")
    load.legend(fontsize=8, loc="upper right")
    rss.plot(mins, [b["daemon_rss_mb"] for b in buckets], marker="o", label="daemon")
    rss.axvline(report["warmup_s"] / 60, color="grey", linestyle=":", label="end of warm-up")
    rss.set_ylabel("RSS (MB)")
    rss.set_xlabel("minutes")
    rss.legend(fontsize=8)
    fig.suptitle(f"seed-lsp bench soak: {report['requests']} requests, {report['unanswered']} unanswered, "
                 f"{report['crashes']} crashes, RSS {report['rss_mb']['growth_after_warmup_pct']:+.1f}% after warm-up",
                 fontsize=10)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="seed-lsp bench soak", description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--out", metavar="F", help="write the report here as JSON")
    p.add_argument("--plot", metavar="PNG", help="draw latency, request rate and RSS per bucket here")
    p.add_argument("--model", metavar="DIR", help="checkpoint directory (default: the embedded model)")
    p.add_argument("--device", default="auto")
    p.add_argument("--files", type=int, default=3, help="open documents per server (default 3)")
    p.add_argument("--interval-ms", type=float, default=50.0, help="time between keystrokes (default 50)")
    p.add_argument("--word-pause-ms", type=float, default=150.0, help="after a word (default 150)")
    p.add_argument("--line-pause-ms", type=float, default=400.0, help="at a line's end (default 400)")
    p.add_argument("--max-tokens", type=int, default=16, help="the servers' maxTokens (default 16)")
    p.add_argument("--patience-s", type=float, default=5.0,
                   help="how long the person waits for a fill or status reply before typing on (default 5)")
    p.add_argument("--warmup-s", type=float, default=None, help="RSS baseline after this (default: see above)")
    p.add_argument("--bucket-s", type=float, default=60.0, help="percentiles per bucket of this many seconds")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(list(sys.argv[1:] if argv is None else argv))
    report = asyncio.run(run(args))
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    if args.plot:
        plot(report, args.plot)
    ok = report["unanswered"] == 0 and report["crashes"] == 0 and report["tracebacks"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
