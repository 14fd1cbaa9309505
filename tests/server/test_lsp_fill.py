"""seed.fillSelection, seed.fillHoles and the code actions that offer them, end to end (the test
client applies the WorkspaceEdits the server sends, as an editor would)."""
from __future__ import annotations

import pytest
from lsprotocol import types

from seed_lsp.holes import MARKER
from seed_lsp.positions import LineIndex
from tests.server.lsp_helpers import apply_text_edits, command, open_doc, pos, raw_request, status, workspace_text_edits

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_fill_selection_edits_only_changed_spans_inside_the_selection(lsp):
    uri = "file:///fill/selection.py"
    text = "def area(w, h):\n    result = w * h + 0\n    return result\n"
    open_doc(lsp, uri, text)
    sel = types.Range(start=pos(1, 13), end=pos(1, 22))  # "w * h + 0"
    lsp.applied.clear()
    reply = await command(lsp, "seed.fillSelection", {"uri": uri, "range": {
        "start": {"line": 1, "character": 13}, "end": {"line": 1, "character": 22}}})
    assert reply["applied"] is True and reply["edits"] >= 1
    (edit,) = lsp.applied
    edits = workspace_text_edits(edit, uri)
    assert edit.document_changes and edit.document_changes[0].text_document.version == 1  # versioned
    assert len(edits) == reply["edits"]
    index = LineIndex(text)
    lo, hi = index.offset(1, 13), index.offset(1, 22)
    for e in edits:  # inside the selection, and each one changes what it covers
        start = index.offset(e.range.start.line, e.range.start.character)
        end = index.offset(e.range.end.line, e.range.end.character)
        assert lo <= start <= end <= hi
        assert text[start:end] != e.new_text
    new = apply_text_edits(text, edits)
    assert new == text[:lo] + reply["text"] + text[hi:]
    assert sel.start.line == 1


async def test_fill_holes_fills_every_hole_in_one_job(lsp):
    uri = "file:///fill/holes.py"
    text = f"def f(x):\n    {MARKER}\n\ndef g(y):\n    return {MARKER}\n\nz = [{MARKER}]\n"
    open_doc(lsp, uri, text)
    lsp.applied.clear()
    before = await status(lsp)
    reply = await command(lsp, "seed.fillHoles", {"uri": uri})
    after = await status(lsp)
    assert after["jobs"] == before["jobs"] + 1  # the three gaps were one engine job
    assert reply["holes"] == 3 and len(reply["texts"]) == 3
    (edit,) = lsp.applied  # one atomic WorkspaceEdit
    edits = workspace_text_edits(edit, uri)
    assert len(edits) == 3
    new = apply_text_edits(text, edits)
    assert MARKER not in new
    expected = text
    for t in reply["texts"]:
        expected = expected.replace(MARKER, t, 1)
    assert new == expected


async def test_fill_holes_without_markers_changes_nothing(lsp):
    uri = "file:///fill/none.py"
    open_doc(lsp, uri, "x = 1\n")
    lsp.applied.clear()
    reply = await command(lsp, "seed.fillHoles", {"uri": uri})
    assert reply["applied"] is False and reply["holes"] == 0 and lsp.applied == []


async def test_code_actions_offer_fill_selection_and_fill_holes(lsp):
    uri = "file:///fill/actions.py"
    open_doc(lsp, uri, f"a = {MARKER}\nb = a + 1\n")

    def params(end_char):
        return {"textDocument": {"uri": uri}, "context": {"diagnostics": []},
                "range": {"start": {"line": 1, "character": 0}, "end": {"line": 1, "character": end_char}}}

    actions = await raw_request(lsp, types.TEXT_DOCUMENT_CODE_ACTION, params(9))
    assert sorted(a["command"]["command"] for a in actions) == ["seed.fillHoles", "seed.fillSelection"]
    assert all(a["kind"] == "refactor.rewrite" for a in actions)
    sel = next(a for a in actions if a["command"]["command"] == "seed.fillSelection")
    assert sel["command"]["arguments"][0]["range"]["end"] == {"line": 1, "character": 9}
    empty = await raw_request(lsp, types.TEXT_DOCUMENT_CODE_ACTION, params(0))
    assert [a["command"]["command"] for a in empty] == ["seed.fillHoles"]
