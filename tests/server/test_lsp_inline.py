"""textDocument/inlineCompletion end to end: items, range semantics, positions, sync, big files,
and the completion cache."""
from __future__ import annotations

import pytest
from lsprotocol import types

from tests.server.lsp_helpers import apply_text_edits, inline_params, open_doc, pos, status

pytestmark = pytest.mark.asyncio(loop_scope="session")
CODE_WS = " \t\r\n"


async def inline(client, uri, line, character) -> list[types.InlineCompletionItem]:
    result = await client.text_document_inline_completion_async(inline_params(uri, line, character))
    return list(result.items if isinstance(result, types.InlineCompletionList) else result or [])


def accept(text: str, item: types.InlineCompletionItem, cursor: types.Position, enc="utf-16") -> str:
    rng = item.range or types.Range(start=cursor, end=cursor)
    return apply_text_edits(text, [types.TextEdit(range=rng, new_text=item.insert_text)], enc)


def assert_no_duplicated_suffix(text: str, offset: int, line_suffix: str, item) -> None:
    """Accepting = prefix + insert + the part of the line suffix the range did not cover."""
    replaced = item.range.end.character - item.range.start.character  # ASCII line suffix in these tests
    assert 0 <= replaced <= len(line_suffix)
    after = accept(text, item, item.range.start)
    assert after == text[:offset] + item.insert_text + text[offset + replaced:]
    kept = line_suffix[replaced:]
    # what the completion already typed at its end is not left after it again
    assert not (kept and item.insert_text.endswith(kept))


async def test_inline_item_for_python_snippet(lsp):
    text = "def add(a, b):\n    return \n\nprint(add(1, 2))\n"
    uri = "file:///inline/snippet.py"
    open_doc(lsp, uri, text)
    items = await inline(lsp, uri, 1, 11)
    assert len(items) == 1
    item = items[0]
    assert item.insert_text.strip(CODE_WS)
    assert item.range.start == pos(1, 11) and item.range.end == pos(1, 11)  # nothing after the cursor
    assert_no_duplicated_suffix(text, text.index("return ") + 7, "", item)


async def test_inline_item_range_covers_only_the_line_suffix(lsp):
    text = "values = [1, 2]\nprint(sum(values), max())\n"
    uri = "file:///inline/suffix.py"
    open_doc(lsp, uri, text)
    line, col = 1, len("print(sum(values), max(")
    items = await inline(lsp, uri, line, col)
    assert len(items) == 1
    item = items[0]
    assert item.range.start == pos(line, col) and item.range.end.line == line
    assert_no_duplicated_suffix(text, text.index("max(") + 4, "))", item)


async def test_utf16_positions_with_emoji_and_cjk(lsp):
    prefix_line = "s = '😀 漢字 😀' + "
    text = f"# 日本語のコメント 🎉\n{prefix_line}\nprint(s)\n"
    uri = "file:///inline/unicode.py"
    open_doc(lsp, uri, text)
    col16 = len(prefix_line.encode("utf-16-le")) // 2  # 2 emoji count 2 units each
    assert col16 == len(prefix_line) + 2
    items = await inline(lsp, uri, 1, col16)
    assert len(items) == 1
    item = items[0]
    assert item.range.start == pos(1, col16)
    after = accept(text, item, pos(1, col16))
    assert after.startswith(f"# 日本語のコメント 🎉\n{prefix_line}{item.insert_text}")
    assert after.endswith("\nprint(s)\n")


async def test_incremental_sync_is_seen_by_the_next_request(lsp):
    uri = "file:///inline/incremental.py"
    text = "def f(x):\n    return x\n"
    open_doc(lsp, uri, text)
    # insert a new line with an unfinished call, then complete at its end
    lsp.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
        content_changes=[types.TextDocumentContentChangePartial(
            range=types.Range(start=pos(2, 0), end=pos(2, 0)), text="y = f(")]))
    lsp.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=3),
        content_changes=[types.TextDocumentContentChangePartial(
            range=types.Range(start=pos(2, 6), end=pos(2, 6)), text="1")]))
    items = await inline(lsp, uri, 2, 7)
    assert len(items) == 1 and items[0].range.start == pos(2, 7)
    # a position on line 3 exists only if the server applied the edits: line 2 is "y = f(1" now
    assert await inline(lsp, uri, 4, 0) == []
    # a full-document change is also accepted
    lsp.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=4),
        content_changes=[types.TextDocumentContentChangeWholeDocument(text="z = \n")]))
    items = await inline(lsp, uri, 0, 4)
    assert len(items) == 1 and items[0].range.start == pos(0, 4)


async def test_unknown_document_and_position_past_the_end_are_empty(lsp):
    assert await inline(lsp, "file:///inline/never-opened.py", 0, 0) == []
    uri = "file:///inline/short.py"
    open_doc(lsp, uri, "x = 1\n")
    assert await inline(lsp, uri, 50, 0) == []
    assert await inline(lsp, uri, 2, 0) == []  # line 1 is the empty last line; 2 is past the end


async def test_five_megabyte_document_is_windowed_and_answered(lsp):
    line = "value_{0} = compute(value_{0}, 1234567890)  # padding padding padding\n"
    lines = [line.format(i) for i in range(75_000)]
    text = "".join(lines)
    assert len(text) > 5_000_000
    uri = "file:///inline/huge.py"
    open_doc(lsp, uri, text)
    target = 60_000
    items = await inline(lsp, uri, target, len("value_60000 = "))
    assert len(items) == 1 and items[0].range.start.line == target


async def test_typing_the_start_of_a_shown_completion_is_served_from_the_cache(lsp):
    uri = "file:///inline/cache.py"
    text = "import os\nname = \n"
    open_doc(lsp, uri, text)
    items = await inline(lsp, uri, 1, 7)
    assert len(items) == 1
    shown = items[0].insert_text
    assert len(shown) >= 2
    before = await status(lsp)
    typed = shown[:1]
    lsp.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
        content_changes=[types.TextDocumentContentChangePartial(
            range=types.Range(start=pos(1, 7), end=pos(1, 7)), text=typed)]))
    again = await inline(lsp, uri, 1, 7 + len(typed.encode("utf-16-le")) // 2)
    after = await status(lsp)
    assert [i.insert_text for i in again] == [shown[1:]]
    assert after["jobs"] == before["jobs"]  # no model call
    assert after["server"]["cache_hits"] == before["server"]["cache_hits"] + 1
