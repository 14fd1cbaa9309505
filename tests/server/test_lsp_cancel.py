"""Cancellation, freshness and robustness end to end: $/cancelRequest -> -32800 and the job stops,
typing with cancels (every request answered), edits under a request -> -32801, malformed params ->
-32602, and the server stays alive through all of it."""
from __future__ import annotations

import asyncio
import time

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from tests.server.lsp_helpers import FAST_OPTIONS, cancel, inline_params, open_doc, pos, raw_request, send, status, wait_until

pytestmark = pytest.mark.asyncio(loop_scope="session")


def settings(client, **values) -> None:
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings={"seed-lsp": values}))


async def error_code(future) -> int | None:
    try:
        await future
    except JsonRpcException as exc:
        return exc.code
    return None


@pytest.fixture
async def long_jobs(lsp):
    """Jobs that run for many steps (a 2000-token block gap) while the test needs them running."""
    settings(lsp, maxTokens=2000, mode="block", strategyParams={"gap": 2000})
    yield
    settings(lsp, **FAST_OPTIONS, mode="auto", strategyParams={})


async def test_cancel_request_answers_32800_and_stops_the_job_within_a_step(lsp, long_jobs):
    uri = "file:///cancel/long.py"
    open_doc(lsp, uri, "def long():\n\n")
    before = await status(lsp)
    msg_id, fut = send(lsp, types.TEXT_DOCUMENT_INLINE_COMPLETION, inline_params(uri, 1, 0))
    await wait_until(lambda: _engine_busy(lsp))  # the job is denoising now
    t0 = time.perf_counter()
    cancel(lsp, msg_id)
    assert await error_code(fut) == -32800
    answered = time.perf_counter() - t0
    # the engine job stopped between two steps: the cancelled counter moves, nothing stays queued
    after = await wait_until(lambda: _cancelled_since(lsp, before))
    stopped = time.perf_counter() - t0
    assert answered < 1.0
    assert stopped < 3.0, f"job stopped {stopped:.2f}s after the cancel"
    assert after["engine"]["queued"] == 0 and after["server"]["pending"] == 0


async def _engine_busy(lsp):
    s = await status(lsp)
    return s["server"]["pending"] > 0 and s["engine"].get("queued", 0) == 0


async def _cancelled_since(lsp, before):
    s = await status(lsp)
    return s if s["cancelled"] > before["cancelled"] else None


async def test_edit_under_a_request_answers_content_modified(lsp, long_jobs):
    uri = "file:///cancel/stale.py"
    open_doc(lsp, uri, "x = 1\ny = \n")
    _, fut = send(lsp, types.TEXT_DOCUMENT_INLINE_COMPLETION, inline_params(uri, 1, 4))
    await wait_until(lambda: _engine_busy(lsp))
    lsp.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
        content_changes=[types.TextDocumentContentChangePartial(range=types.Range(start=pos(0, 0), end=pos(0, 0)), text="# c\n")]))
    assert await asyncio.wait_for(error_code(fut), 5) == -32801


async def test_newer_request_supersedes_the_older_one(lsp, long_jobs):
    uri = "file:///cancel/supersede.py"
    open_doc(lsp, uri, "a = \nb = \n")
    _, first = send(lsp, types.TEXT_DOCUMENT_INLINE_COMPLETION, inline_params(uri, 0, 4))
    await wait_until(lambda: _engine_busy(lsp))
    second_id, second = send(lsp, types.TEXT_DOCUMENT_INLINE_COMPLETION, inline_params(uri, 1, 4))
    assert await asyncio.wait_for(error_code(first), 5) == -32800
    cancel(lsp, second_id)
    assert await error_code(second) == -32800


async def test_fifty_requests_with_cancels_while_typing_all_answered(lsp):
    uri = "file:///cancel/typing.py"
    line = ""
    open_doc(lsp, uri, "import math\n\n")
    futures = []
    for i, ch in enumerate("result = math.sqrt(value) + offset * 2 - 1 # fine!"[:50]):
        line += ch
        lsp.text_document_did_change(types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=i + 2),
            content_changes=[types.TextDocumentContentChangePartial(
                range=types.Range(start=pos(1, len(line) - 1), end=pos(1, len(line) - 1)), text=ch)]))
        msg_id, fut = send(lsp, types.TEXT_DOCUMENT_INLINE_COMPLETION, inline_params(uri, 1, len(line)))
        futures.append(fut)
        if futures[:-1] and i % 2 == 0:
            cancel(lsp, msg_id - 1)  # the editor cancels the previous request as the user types on
        await asyncio.sleep(0.01)
    outcomes = await asyncio.wait_for(asyncio.gather(*futures, return_exceptions=True), 60)
    assert len(outcomes) == 50
    codes = [o.code if isinstance(o, JsonRpcException) else "ok" for o in outcomes]
    assert set(codes) <= {"ok", -32800, -32801}, codes
    assert codes[-1] == "ok"  # the last keystroke's request is answered with a result
    s = await status(lsp)  # alive
    assert s["server"]["pending"] == 0


async def test_malformed_params_answer_invalid_params(lsp):
    bad = [
        (types.TEXT_DOCUMENT_INLINE_COMPLETION, {"textDocument": 5, "position": "here"}),
        (types.TEXT_DOCUMENT_INLINE_COMPLETION, {"textDocument": {"uri": "file:///x.py"}, "position": {"line": -1}}),
        (types.TEXT_DOCUMENT_CODE_ACTION, {"range": None}),
    ]
    for method, params in bad:
        assert await asyncio.wait_for(error_code(raw_request(lsp, method, params)), 5) == -32602
    # bad command arguments too
    with pytest.raises(JsonRpcException) as exc:
        await lsp.workspace_execute_command_async(types.ExecuteCommandParams(command="seed.fillSelection", arguments=[7]))
    assert exc.value.code == -32602
    assert (await status(lsp))["loaded"]  # still alive
