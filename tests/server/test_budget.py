"""Window budgeting end to end: the checkpoint's window -> Engine.window / context_tokens -> the
server's cuts (seed_lsp/budget.py) and the daemon's hello. A 192-token model is not sent 1,280
tokens; a 131k-token model is not cut to 2,048."""
from __future__ import annotations

import json

import pytest

from runtime import Engine
from runtime.infill import build_canvas
from runtime.jobs import CancelToken
from seed_lsp.completer import job_for, workspace_budget
from seed_lsp.context import CHARS_PER_TOKEN
from seed_lsp.options import Options
from tests.conftest import make_tiny_model_dir

DOC = "".join(f"value_{i} = compute({i}, 'x')\n" for i in range(12000))  # ~100k tokens of text


def _engine_with_window(tmp_path, positions: int, **defaults) -> Engine:
    root = make_tiny_model_dir(tmp_path)
    config = json.loads((root / "config.json").read_text())
    config["max_position_embeddings"] = positions
    config["architectures"] = ["SeedDiffusionLM"]  # our own family: no training-length cap of a published one
    if defaults:
        config["seed_lsp_defaults"] = defaults
    (root / "config.json").write_text(json.dumps(config))
    return Engine.load(root, device="cpu")


def _job_tokens(engine, job) -> tuple[int, int]:
    tok = engine.tokenizer
    return len(tok.encode(job.prefix)), len(tok.encode(job.suffix))


def _sent_at_most(job, tokens: int) -> bool:
    """The server cuts in characters (CHARS_PER_TOKEN a token, whole lines): at most that many."""
    line = len(DOC.split("\n", 1)[0]) + 1
    return len(job.prefix) <= tokens * CHARS_PER_TOKEN + line and len(job.suffix) <= tokens * CHARS_PER_TOKEN + line


@pytest.mark.parametrize("positions", [256, 131072])
def test_server_sends_what_the_window_keeps(tmp_path, positions):
    engine = _engine_with_window(tmp_path, positions)
    try:
        o = Options()
        assert engine.window == positions and engine.options.max_context == positions
        keep = engine.context_tokens(o.max_tokens)
        assert keep == positions - o.max_tokens  # no BOS/EOS for this family
        offset = len(DOC) // 2
        _, job = job_for(o, DOC, offset, offset, offset, "file:///a.py", "", engine)
        before, after = _job_tokens(engine, job)
        # Enough for the runtime to fill its whole window, and no more than the window's text.
        assert before >= keep and after >= keep and _sent_at_most(job, keep)
        assert job.prefix.startswith("value_") and job.suffix.endswith("\n"), "cuts fall on line boundaries"
        canvas = build_canvas(job, engine.model, engine.tokenizer, engine.options, CancelToken())
        text = len(canvas.ids) - canvas.gaps[0].length
        assert keep - 20 <= text <= keep, "the canvas keeps the window's text, no more"
        assert text + o.max_tokens <= positions, "a gap at full growth still fits"
    finally:
        engine.close()


def test_user_caps_and_workspace_share_follow_the_window(tmp_path):
    engine = _engine_with_window(tmp_path, 512)
    try:
        keep = engine.context_tokens(64)
        assert workspace_budget(Options(), engine) == keep // 4 * 4  # a quarter of the text, in chars
        offset = len(DOC) // 2
        _, job = job_for(Options(context_before=40, context_after=10), DOC, offset, offset, offset, "u", "", engine)
        line = len(DOC.split("\n", 1)[0]) + 1
        assert len(job.prefix) <= 40 * CHARS_PER_TOKEN + line and len(job.suffix) <= 10 * CHARS_PER_TOKEN + line, \
            "contextBefore / contextAfter still cap"
    finally:
        engine.close()


def test_short_trained_window_from_config_defaults(tmp_path):
    engine = _engine_with_window(tmp_path, 4096, max_context=192)
    try:
        assert engine.window == 4096 and engine.options.max_context == 192
        assert engine.context_tokens(64) == 192
        offset = len(DOC) // 2
        _, job = job_for(Options(), DOC, offset, offset, offset, "u", "", engine)
        assert _sent_at_most(job, 192), "a 192-token model is not sent 1,280 tokens"
    finally:
        engine.close()


def test_multi_hole_middles_are_capped(tmp_path):
    engine = _engine_with_window(tmp_path, 512)
    try:
        from runtime.jobs import InfillJob

        middle = "".join(f"mid_{i} = {i}\n" for i in range(3000))
        job = InfillJob(segments=[DOC[:20000], middle, middle, DOC[-20000:]], mode="block", max_tokens=16)
        canvas = build_canvas(job, engine.model, engine.tokenizer, engine.options, CancelToken())
        assert len(canvas.ids) - sum(g.length for g in canvas.gaps) <= 512 - 3 * 16
        assert len(canvas.ids) + sum(g.budget - g.length for g in canvas.gaps) <= 512
        between = canvas.ids[canvas.gaps[0].end:canvas.gaps[1].start]
        assert 0 < len(between) < 512 // 3, "a middle segment is capped, not kept whole"
    finally:
        engine.close()


def test_daemon_hello_reports_the_window(tmp_path):
    import tempfile
    from pathlib import Path

    from seed_lsp.daemon.client import RemoteEngine
    from tests.server.test_daemon import InProcessDaemon

    engine = _engine_with_window(tmp_path, 320)
    sock = Path(tempfile.mkdtemp(prefix="sl-", dir="/tmp")) / "run" / "d.sock"
    daemon = InProcessDaemon(engine, sock)
    remote = RemoteEngine(sock, start=False)
    try:
        assert remote.hello == {} and remote.window == 320
        assert remote.hello["max_context"] == 320 and remote.hello["layout_tokens"] == 0
        assert remote.context_tokens(64) == engine.context_tokens(64) == 256
        offset = len(DOC) // 2
        _, job = job_for(Options(), DOC, offset, offset, offset, "u", "", remote)
        assert _sent_at_most(job, 256), "the server behind a daemon cuts to the daemon's window"
    finally:
        remote.close()
        daemon.stop()
        engine.close()
