"""Unit tests of the server's plain modules: positions, context windows, postprocess, edits, cache,
options, holes, freshness. No client, no model."""
from __future__ import annotations

import time

import pytest

from seed_lsp.cache import CompletionCache
from seed_lsp.context import build_context, choose_mode, window_after, window_before
from seed_lsp.edits import apply_edits, minimal_edits
from seed_lsp.freshness import PendingTable
from seed_lsp.holes import MARKER, split_holes
from seed_lsp.options import Options, merge
from seed_lsp.positions import LineIndex, index_to_units, units_to_index
from seed_lsp.postprocess import Suggestion, choose_overlap, plan_item


# --- positions ---------------------------------------------------------------------------------
def test_utf16_and_utf8_units_round_trip_with_emoji_and_cjk():
    line = "a😀漢b"
    assert [index_to_units(line, i, "utf-16") for i in range(5)] == [0, 1, 3, 4, 5]
    assert [index_to_units(line, i, "utf-8") for i in range(5)] == [0, 1, 5, 8, 9]
    assert units_to_index(line, 2, "utf-16") == 1  # inside the surrogate pair: rounds down
    assert units_to_index(line, 99, "utf-16") == 4  # past the line end: clamps
    assert units_to_index(line, 8, "utf-8") == 3


def test_line_index_handles_crlf_cr_and_past_the_end():
    text = "ab\r\ncd\ref\n"
    idx = LineIndex(text)
    assert idx.line_count == 4 and [idx.line_text(i) for i in range(4)] == ["ab", "cd", "ef", ""]
    assert idx.offset(1, 1) == 5 and idx.position(5) == (1, 1)
    assert idx.offset(4, 0) is None and idx.offset(0, 10) == 2
    assert idx.position(len(text)) == (3, 0)


# --- context -----------------------------------------------------------------------------------
def test_mode_choice():
    assert choose_mode("    ", "") == "block" and choose_mode("", "") == "block"
    assert choose_mode("x = ", "") == "line" and choose_mode("", "foo()") == "line"
    assert choose_mode("x = ", "", "block") == "block"


def test_windows_cut_at_line_boundaries_and_cost_the_window_not_the_document():
    text = "".join(f"line {i}\n" for i in range(10))
    off = text.index("line 5")
    before = window_before(text, off, 20)
    assert text[:off].endswith(before) and before.startswith("line") and len(before) <= 20
    after = window_after(text, off, 20)
    assert text[off:].startswith(after) and after.endswith("\n") and len(after) <= 20
    assert window_before("x" * 100, 100, 10) == "x" * 10  # one long line: raw slice
    big = "y = compute(value)\n" * 300_000  # ~5.7 MB
    t0 = time.perf_counter()
    ctx = build_context(big, len(big) // 2, len(big) // 2, len(big) // 2, 1024, 256)
    assert time.perf_counter() - t0 < 0.05 and len(ctx.prefix) <= 4096 and len(ctx.suffix) <= 1024


# --- postprocess -------------------------------------------------------------------------------
@pytest.mark.parametrize("line_prefix, completion, line_suffix, replace", [
    ("print(", '"hi")', ")", 1),          # closes the call the suffix already closes: replace it
    ("print(", "f(x)", ")", 0),           # balanced on its own: keep the suffix's ")"
    ("def f(", "x) -> int:", "):", 2),    # retypes ")" and ":" around new text
    ("if x", " > 0:", ":", 1),            # exact tail overlap
    ("x = foo(", "a", ")", 0),
    ("x = [", "1, 2]", "]  # c", 1),
])
def test_overlap_with_the_line_suffix(line_prefix, completion, line_suffix, replace):
    assert choose_overlap(completion, line_prefix, line_suffix) == replace


def test_plan_item_never_shows_garbage():
    assert plan_item("  \n\t", "x = ", "", "", "line", 0.9, 0.1) is None  # whitespace only
    assert plan_item("1", "x = ", "", "", "line", 0.05, 0.1) is None  # under the floor
    assert plan_item(")", "print(", ")", ")\n", "line", 0.9, 0.0) is None  # changes nothing
    assert plan_item("return x", "    ", "", "\n    return x\n", "block", 0.9, 0.0) is None  # repeats suffix
    assert plan_item("1  \nmore", "x = ", "", "", "line", 0.9, 0.0) == Suggestion("1", 0)
    assert plan_item('"hi")', "print(", ")", ")\n", "line", 0.9, 0.0) == Suggestion('"hi")', 1)


# --- edits -------------------------------------------------------------------------------------
def test_minimal_edits_touch_only_changed_words():
    old = "result = width * height + 0"
    new = "result = width * depth + 0"
    edits = minimal_edits(old, new)
    assert len(edits) == 1 and old[edits[0].start:edits[0].end] != edits[0].text
    assert "width" not in old[edits[0].start:edits[0].end]
    assert apply_edits(old, edits) == new
    assert minimal_edits(old, old) == []


@pytest.mark.parametrize("old, new", [("a b c", "a c"), ("", "x"), ("x", ""), ("f(a, b)", "g(a, c, d)"),
                                      ("αβ γ", "αβ δ γ"), ("line1\nline2\n", "line1\nLINE\nline2\n")])
def test_minimal_edits_apply_back(old, new):
    edits = minimal_edits(old, new)
    assert apply_edits(old, edits) == new
    assert all(a.end <= b.start for a, b in zip(edits, edits[1:]))


# --- cache -------------------------------------------------------------------------------------
def test_cache_serves_the_rest_when_the_user_types_the_start():
    c = CompletionCache(4)
    before = "import os\nname = "
    c.put("u", before, ")", "os.getcwd()", 1)
    assert c.get("u", before, ")") == ("os.getcwd()", 1)
    assert c.get("u", before + "os.", ")") == ("getcwd()", 1)
    assert c.get("u", before + "sys", ")") is None  # typed something else
    assert c.get("u", before + "os.", "") is None  # the rest of the line changed
    assert c.get("v", before, ")") is None  # another document
    c.put("w", "", "", "abc", 0)  # at the document start the anchor must match exactly
    assert c.get("w", "a", "") == ("bc", 0) and c.get("w", "xa", "") is None


def test_cache_is_bounded():
    c = CompletionCache(2)
    for i in range(5):
        c.put("u", f"p{i} ", "", f"t{i}", 0)
    assert len(c) == 2 and c.get("u", "p0 ", "") is None and c.get("u", "p4 ", "") == ("t4", 0)


# --- options, holes, freshness -----------------------------------------------------------------
def test_options_merge_accepts_sections_and_rejects_bad_values():
    o = merge(Options(), {"seed-lsp": {"maxTokens": 12, "confidenceFloor": 0, "model": "", "mode": "block"}})
    assert (o.max_tokens, o.confidence_floor, o.model, o.mode) == (12, 0, None, "block")
    o2 = merge(o, {"maxTokens": "many", "mode": "sideways", "confidenceFloor": 3, "nope": 1, "enable": False})
    assert (o2.max_tokens, o2.mode, o2.confidence_floor, o2.enable) == (12, "block", 0, False)
    assert merge(o, None) == o


def test_split_holes():
    text = f"a{MARKER}b{MARKER}"
    offsets, segments = split_holes(text)
    assert offsets == [1, 2 + len(MARKER)] and segments == ["a", "b", ""]


class _Handle:
    cancelled = False

    def cancel(self):
        self.cancelled = True


def test_edits_on_or_above_the_cursor_line_make_a_request_stale():
    table = PendingTable()
    below, above, full = _Handle(), _Handle(), _Handle()
    p = table.add("u", 5, below)
    assert table.document_changed("u", [9]) == 0 and not below.cancelled  # below: still valid
    assert table.document_changed("u", [5]) == 1 and below.cancelled and p.reason == "changed"
    table.add("u", 3, above)
    table.add("v", 3, full)
    table.document_changed("v", [None])
    assert full.cancelled and not above.cancelled
