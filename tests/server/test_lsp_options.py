"""Initialization end to end: position encoding negotiation, options that turn features off (they
are not advertised), the textDocument/completion fallback, seed.status."""
from __future__ import annotations

import pytest
from lsprotocol import types

from tests.server import lsp_helpers
from tests.server.lsp_helpers import capabilities, open_doc, pos, status

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_shared_server_advertises_features_utf16_and_commands(lsp):
    caps = lsp.init_result.capabilities
    assert caps.inline_completion_provider is not None
    assert caps.completion_provider is not None  # the shared server runs with completion "always"
    assert caps.code_action_provider is not None
    assert caps.position_encoding == types.PositionEncodingKind.Utf16
    assert set(caps.execute_command_provider.commands) >= {"seed.fillSelection", "seed.fillHoles", "seed.status"}
    assert caps.text_document_sync.change == types.TextDocumentSyncKind.Incremental


async def test_completion_fallback_item_has_a_text_edit_at_the_cursor(lsp):
    uri = "file:///opts/completion.py"
    line = "s = 'é漢😀' + "
    open_doc(lsp, uri, f"{line}\n")
    col = len(line.encode("utf-16-le")) // 2
    result = await lsp.text_document_completion_async(types.CompletionParams(
        text_document=types.TextDocumentIdentifier(uri=uri), position=pos(0, col)))
    (item,) = result.items
    assert item.text_edit.range.start == pos(0, col) and item.text_edit.new_text.strip(" \t\r\n")


async def test_status_reports_model_device_and_counters(lsp):
    s = await status(lsp)
    assert s["loaded"] and s["device"] == "cpu" and s["model"]
    for key in ("jobs", "cancelled"):
        assert isinstance(s[key], int)
    assert {"p50", "p95"} <= set(s["engine"]["latency_ms"]) and {"p50", "p95"} <= set(s["server"]["latency_ms"])


async def test_utf8_negotiated_and_disabled_features_not_advertised(tmp_path):
    # no model is needed to check initialization: a missing model dir fails to load in the background
    client = await lsp_helpers.start(tmp_path / "no-model", {"inlineCompletion": False, "codeActions": False},
                                     capabilities(inline=True, encodings=("utf-16", "utf-8")), base={})
    try:
        caps = client.init_result.capabilities
        assert caps.position_encoding == types.PositionEncodingKind.Utf8
        assert caps.inline_completion_provider is None and caps.code_action_provider is None
        assert caps.completion_provider is None  # "auto": the client has inline completion
        s = await lsp_helpers.status(client)
        assert s["loaded"] is False
    finally:
        await lsp_helpers.stop(client)
