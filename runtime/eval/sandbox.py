"""Run an untrusted Python program in a child process with a timeout and CPU/memory limits.

The parent never imports or executes the program: it writes it to a fresh temporary directory,
starts `python -I sandbox_child.py` there in a new session (so a timeout kills the whole process
group), with a minimal environment (no proxies, HOME/TMPDIR inside the temporary directory), and
reads the outcome from the exit status and the tail of the child's stdout file. Output goes to
files, not pipes, so a program that prints without end cannot fill the parent's memory (the child's
file-size limit stops it). Thread-safe: run_program may be called from a worker pool.
"""
from __future__ import annotations

import math
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

CHILD = Path(__file__).with_name("sandbox_child.py")


@dataclass(frozen=True)
class Outcome:
    """passed: exit 0 and the child printed its nonce. reason: 'passed', 'timeout', 'signal NAME',
    or the one-line exception the program raised (e.g. 'AssertionError: ...'). ms: wall time."""

    passed: bool
    reason: str
    ms: float


def _tail(path: Path, limit: int = 4096) -> str:
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        f.seek(max(0, f.tell() - limit))
        return f.read().decode("utf-8", "replace")


def _env(workdir: str) -> dict[str, str]:
    # only what Python needs; proxies and the parent's secrets stay out
    return {"PATH": os.defpath, "HOME": workdir, "TMPDIR": workdir, "LANG": "C.UTF-8", "no_proxy": "*"}


def run_program(program: str, timeout_s: float = 5.0, memory_mb: int = 1024) -> Outcome:
    """Execute `program` as __main__ in a sandboxed child; wall-clock timeout_s, CPU limit
    ceil(timeout_s) + 1 s, address-space limit memory_mb."""
    nonce = secrets.token_hex(16)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="seed-eval-") as workdir:
        work = Path(workdir)
        (work / "candidate.py").write_text(program, encoding="utf-8")
        cpu_s = math.ceil(timeout_s) + 1
        cmd = [sys.executable, "-I", str(CHILD), "candidate.py", str(cpu_s), str(memory_mb)]
        with open(work / "stdout", "wb") as out, open(work / "stderr", "wb") as err:
            proc = subprocess.Popen(
                cmd, cwd=workdir, env=_env(workdir), stdin=subprocess.PIPE, stdout=out, stderr=err,
                start_new_session=True, close_fds=True,
            )
            try:
                proc.communicate(input=(nonce + "\n").encode(), timeout=timeout_s)
            except subprocess.TimeoutExpired:
                _kill_group(proc)
                return Outcome(False, "timeout", (time.perf_counter() - start) * 1000)
        ms = (time.perf_counter() - start) * 1000
        if proc.returncode == 0 and nonce in _tail(work / "stdout"):
            return Outcome(True, "passed", ms)
        return Outcome(False, _reason(proc.returncode, _tail(work / "stderr")), ms)


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # the child leads its own session: pgid == pid
    except ProcessLookupError:
        pass
    proc.wait()


def _reason(returncode: int, stderr: str) -> str:
    if returncode < 0:
        try:
            return f"signal {signal.Signals(-returncode).name}"
        except ValueError:
            return f"signal {-returncode}"
    lines = [line for line in stderr.splitlines() if line.strip()]
    if not lines:
        return f"exit {returncode}"
    return lines[-1][:300]
