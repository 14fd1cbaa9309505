"""The daemon as a real process: started on demand by clients (exactly one even when several start
at once), shared by two clients, killed mid-request (the pending future resolves, the next submit
restarts it), and `seed-lsp daemon status` / `stop` as a subprocess."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from runtime import InfillJob
from seed_lsp.daemon.client import connect_or_start

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def sock_path():
    base = Path(tempfile.mkdtemp(prefix="sl-", dir="/tmp"))
    sock = base / "run" / "d.sock"
    yield sock
    pid_file = sock.with_name(sock.name + ".pid")  # kill whatever daemon the test left running
    try:
        pid = int(pid_file.read_text().strip() or 0)
        if pid:
            os.kill(pid, signal.SIGKILL)
    except (FileNotFoundError, ProcessLookupError, ValueError):
        pass
    shutil.rmtree(base, ignore_errors=True)


def job(**kw) -> InfillJob:
    return InfillJob(prefix="x = 1\ny = ", suffix="\n", max_tokens=kw.pop("max_tokens", 3), **kw)


def seed_lsp(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "seed_lsp.cli", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


def test_concurrent_starts_spawn_one_daemon_shared_by_two_clients(sock_path, tiny_model_dir):
    clients: list = [None] * 3

    def start(i: int) -> None:
        clients[i] = connect_or_start(sock_path, model=str(tiny_model_dir), device="cpu", timeout=120,
                                      client_id=f"editor{i}")

    threads = [threading.Thread(target=start, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    assert all(c is not None for c in clients)
    pids = {c.connect().hello["pid"] for c in clients}
    assert len(pids) == 1  # one daemon, one model, for all three
    a, b = clients[0], clients[1]
    ra, rb = a.submit(job(key="a.py")), b.submit(job(key="a.py"))
    assert ra.result(timeout=120).stop_reason != "error"
    assert rb.result(timeout=120).stop_reason != "error"
    out = seed_lsp("daemon", "status", "--socket", str(sock_path))
    assert out.returncode == 0, out.stderr
    st = json.loads(out.stdout)
    assert st["pid"] in pids and st["models_loaded"] == 1
    assert st["clients_served"] == 3 and st["jobs_done"] >= 2
    assert st["model"] == str(tiny_model_dir) and st["device"] == "cpu" and st["uptime_s"] > 0
    for c in clients:
        c.close()
    out = seed_lsp("daemon", "stop", "--socket", str(sock_path))
    assert out.returncode == 0, out.stderr
    assert not sock_path.exists()
    assert seed_lsp("daemon", "status", "--socket", str(sock_path)).returncode == 1


def test_daemon_killed_mid_request_resolves_and_recovers(sock_path, tiny_model_dir):
    remote = connect_or_start(sock_path, model=str(tiny_model_dir), device="cpu", timeout=120)
    assert remote is not None
    first_pid = remote.connect().hello["pid"]
    os.kill(first_pid, signal.SIGSTOP)  # frozen: the request is surely in flight when it dies
    handle = remote.submit(job(key="doc"))
    time.sleep(0.2)
    assert not handle.future.done()
    os.kill(first_pid, signal.SIGKILL)
    res = handle.result(timeout=10)  # resolves, never hangs
    assert res.stop_reason == "error" and res.text == "" and res.texts == [""]
    again = remote.submit(job(key="doc")).result(timeout=120)  # reconnects, restarting the daemon
    assert again.stop_reason != "error"
    assert remote.connect().hello["pid"] != first_pid
    remote.close()
    assert seed_lsp("daemon", "stop", "--socket", str(sock_path)).returncode == 0


def test_no_daemon_and_no_start_gives_none(sock_path):
    assert connect_or_start(sock_path, start=False) is None
    bad = connect_or_start(sock_path, model="/nonexistent/model", device="cpu", timeout=60)
    assert bad is None  # the daemon cannot run: the caller falls back to in-process
    assert "Traceback" in sock_path.with_name(sock_path.name + ".log").read_text()
