"""`seed-lsp serve` with no --daemon flag (the default, auto), end to end: it starts the workstation
daemon on the default socket ($XDG_RUNTIME_DIR/seed-lsp/daemon.sock, here a temporary runtime dir)
and sends its jobs there; a server asking for another model than the daemon serves loads its own;
when the daemon cannot run (the socket directory is unusable) the server loads in-process. The
daemon started here is stopped at the end (and killed by its pid file if it does not stop)."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.server import lsp_helpers
from tests.server.lsp_helpers import inline_params, open_doc, status

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture
def runtime_dir():
    base = Path(tempfile.mkdtemp(prefix="sl-xdg-", dir="/tmp"))  # short: sun_path holds 107 bytes
    yield base
    sock = base / "seed-lsp" / "daemon.sock"
    subprocess.run([sys.executable, "-m", "seed_lsp.cli", "daemon", "stop", "--socket", str(sock)], cwd=ROOT,
                   capture_output=True, timeout=60)
    try:  # a daemon that did not stop is killed: the suite never leaves one running
        os.kill(int((base / "seed-lsp" / "daemon.sock.pid").read_text().strip()), signal.SIGKILL)
    except (FileNotFoundError, ProcessLookupError, ValueError):
        pass
    shutil.rmtree(base, ignore_errors=True)


def server_env(runtime_dir: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "SEED_LSP_DAEMON"}
    return dict(env, XDG_RUNTIME_DIR=str(runtime_dir), SEED_LSP_DAEMON_IDLE_EXIT="120")


async def backend_after_a_request(client, name: str) -> dict:
    uri = f"file:///daemon-default/{name}.py"
    open_doc(client, uri, "def f(x):\n    return \n")
    await client.text_document_inline_completion_async(inline_params(uri, 1, 11))
    s = await status(client)
    assert s["loaded"], s["load_error"]
    return s


async def test_default_is_auto_shared_daemon_other_model_and_unusable_socket_load_in_process(
        runtime_dir, tiny_model_dir, tiny_shifted_model_dir, tmp_path):
    env = server_env(runtime_dir)
    a = await lsp_helpers.start(tiny_model_dir, daemon=None, env=env)
    b = await lsp_helpers.start(tiny_shifted_model_dir, daemon=None, env=env)
    blocked = tmp_path / "xdg"
    blocked.mkdir()
    (blocked / "seed-lsp").write_text("not a directory")  # the socket directory cannot be made
    c = await lsp_helpers.start(tiny_model_dir, daemon=None, env=server_env(blocked))
    try:
        sa = await backend_after_a_request(a, "a")
        assert sa["backend"] == "daemon"
        assert sa["daemon_socket"] == str(runtime_dir / "seed-lsp" / "daemon.sock")
        assert sa["engine"]["jobs_done"] >= 1 and sa["engine"]["idle_exit_s"] == 120.0
        sb = await backend_after_a_request(b, "b")
        assert sb["backend"] == "in-process"  # the daemon serves another model
        sc = await backend_after_a_request(c, "c")
        assert sc["backend"] == "in-process"  # no daemon could run
    finally:
        for client in (a, b, c):
            await lsp_helpers.stop(client)
