"""The rules that keep a completion from being shown (seed_lsp/postprocess.py, seed_lsp/statement_end.py):
one test per rule, each with the near miss that must still be shown."""
from __future__ import annotations

import pytest

from seed_lsp.postprocess import Suggestion, hidden_reason, language_of, plan_item
from seed_lsp.statement_end import ends_mid_statement

HEAD = "def f(x):\n    y = x + 1\n"  # the text before an empty line at the function's body indent


def block(completion: str, after: str = "\n    return y\n", prefix: str = HEAD, language: str | None = "python"):
    """hidden_reason for a block completion on an empty line (cursor at column 0)."""
    return hidden_reason(completion, "", "", after, "block", 0.9, 0.0, prefix=prefix, language=language)


# --- repeats ----------------------------------------------------------------------------------
def test_a_block_that_repeats_the_line_above_is_hidden():
    assert block("    y = x + 1") == "repeats_above"
    assert block("    y = x + 1\n    z = y * 2") == "repeats_above"  # its first line
    assert block("    z = y * 2") is None


def test_a_block_that_ends_with_the_line_below_is_hidden():
    assert block("    z = y * 2\n    return y") == "repeats_below"
    assert block("    z = y * 2\n    return z") is None


def test_a_line_that_repeats_the_line_above_is_hidden_too():
    # line mode: the cursor line as accepting leaves it is compared, head included
    assert hidden_reason("x + 1", "    y = ", "", "\n", "line", 0.9, 0.0, prefix=HEAD + "    y = ") == "repeats_above"
    assert hidden_reason("x + 2", "    y = ", "", "\n", "line", 0.9, 0.0, prefix=HEAD + "    y = ") is None


@pytest.mark.parametrize("line", ["}", "end", "pass", "else:", "break;", ")", "]);"])
def test_trivial_lines_are_not_counted_as_repeats(line):
    # code repeats closers and one-word statements legitimately (nested blocks, branches)
    assert hidden_reason("  " + line, "", "", "\nnext()\n", "block", 0.9, 0.0, prefix="a()\n    " + line + "\n") is None


def test_without_a_prefix_only_the_cursor_line_is_known():
    assert hidden_reason("    y = x + 1", "", "", "\n", "block", 0.9, 0.0) is None  # no line above to compare


# --- mid-statement, Python ----------------------------------------------------------------------
@pytest.mark.parametrize("completion, rule", [
    ("    z = foo(y,", "an unclosed bracket"),
    ("    z = [1, 2", "an unclosed bracket"),
    ("    z = y +", "a trailing operator"),
    ("    z = y,", "a trailing comma"),
    ("    z = y and", "a trailing operator keyword"),
    ("    z = lambda", "a trailing operator keyword"),
    ("    z = y.", "a trailing attribute dot"),
    ("    z = y \\", "a backslash continuation"),
    ('    z = "abc', "an unterminated string"),
    ("    z = 'abc", "an unterminated string"),
    ('    z = """abc', "an unterminated triple-quoted string"),
    ("    if y > 1:", "a header without a body"),
    ("    for i in range(y):", "a header without a body"),
])
def test_a_block_that_ends_mid_statement_is_hidden(completion, rule):
    assert block(completion) == "mid_statement", rule


@pytest.mark.parametrize("completion, after", [
    ("    z = foo(y)", "\n    return y\n"),                  # complete
    ("    z = foo(y,", "\n            2)\n    return z\n"),   # the next line closes the call
    ("    if y > 1:", "\n        return y\n"),              # the body follows
    ("    z = y  # and,", "\n    return y\n"),               # a comment's comma is no operator
    ('    z = "a, b"', "\n    return y\n"),                 # a string's comma neither
    ("    return y", ""),                                   # end of the document
])
def test_a_complete_block_is_shown(completion, after):
    assert block(completion, after) is None


def test_inside_the_documents_own_brackets_a_trailing_comma_is_fine():
    prefix = "values = [\n    1,\n"
    assert block("    2,\n    3,", "\n    4,\n]\n", prefix=prefix) is None
    assert block("    2,\n    foo(3,", "\n    4,\n]\n", prefix=prefix) is None  # the suffix's "," ... "]" closes


def test_inside_a_docstring_nothing_is_judged():
    prefix = 'def f(x):\n    """Return the\n'
    assert block("    sum of x and", '\n    """\n    return x\n', prefix=prefix) is None


def test_a_window_cut_that_does_not_read_as_python_is_not_judged():
    assert ends_mid_statement("  oops\n bad indent\n", "    z = y +", "\n", "python") is False


def test_line_mode_is_exempt_from_the_mid_statement_rule():
    assert hidden_reason("foo(y,", "    z = ", "", "\n", "line", 0.9, 0.0, prefix=HEAD + "    z = ",
                         language="python") is None


# --- mid-statement, other languages (bracket and double-quote heuristic) ----------------------------
@pytest.mark.parametrize("completion, after, hidden", [
    ("  foo(a,", "\n}\n", True),            # unclosed call
    ("  foo(a,", "\n      b);\n}\n", False),  # closed by the next line
    ('  s = "abc', "\n}\n", True),           # unterminated double-quoted string
    ("  x = a +", "\n}\n", True),            # trailing operator
    ("  x = a;", "\n}\n", False),
    ("  x = a; // and,", "\n}\n", False),    # a comment's comma
    ("  }", "\n", False),
    ("  /* done */", "\n}\n", False),
    ("  i++", "\n}\n", False),
    ("  let c = 'a", "\n}\n", False),        # single quotes are not judged (apostrophes, lifetimes)
])
def test_other_languages_use_the_bracket_heuristic(completion, after, hidden):
    got = block(completion, after, prefix="fn main() {\n", language=None)
    assert (got == "mid_statement") is hidden, got


# --- the language and the server's call ---------------------------------------------------------
def test_language_comes_from_the_uri():
    assert language_of("file:///a/b.py") == "python" and language_of("file:///a/b.PYI") == "python"
    assert language_of("file:///a/b.rs") is None and language_of("untitled:Untitled-1") is None


def test_plan_item_applies_the_rules_and_keeps_its_old_answers():
    assert plan_item("    z = foo(y,", "", "", "\n", "block", 0.9, 0.0, prefix=HEAD, language="python") is None
    assert plan_item("    z = foo(y)", "", "", "\n", "block", 0.9, 0.0, prefix=HEAD, language="python") == \
        Suggestion("    z = foo(y)", 0)
    assert plan_item("1", "x = ", "", "", "line", 0.05, 0.1) is None  # the floor first
    assert hidden_reason("1", "x = ", "", "", "line", 0.05, 0.1) == "confidence"
    assert hidden_reason("1", "x = ", "", "", "line", 0.1, 0.1) is None  # at the floor: shown


def test_rows_are_read_as_tokenize_reads_them():
    # \x0c and \x1c end a line for str.splitlines, not for tokenize: offsets must not drift
    prefix = "x = 1  # \x1c form feed \x0c here\n"
    assert ends_mid_statement(prefix, "y = foo(1,", "\n", "python") is True
    assert ends_mid_statement(prefix, "y = foo(1)", "\n", "python") is False
