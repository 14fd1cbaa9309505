"""Does a block completion end mid-statement? (one of the rules of seed_lsp/postprocess.py)

ends_mid_statement(prefix, completion, rest, language) reads prefix + completion + rest (the text
before the cursor, the completion, the text after it) and judges only what the completion did:

  string    a string the completion opened is still open where it ends;
  bracket   a bracket the completion opened is open where it ends, and the text after it does not
            close it either (a completion may open a call that the next line closes);
  operator  at bracket depth 0 it ends with an operator, a comma, an operator keyword (`and`,
            `not`, `lambda`, ...) or a backslash; inside brackets the text after it may go on;
  header    (Python) at depth 0 it ends with a compound statement's ":" and no indented body follows.

State the text before the completion was already in (inside brackets opened before the cursor, or
inside a string: a docstring, or a window cut inside one) is the document's, not the completion's:
inside a string nothing is judged. Python goes through tokenize (comments, every string form,
f-strings); other languages through a heuristic: brackets, and double quotes per line, skipping
`//` and `#` comments (single quotes are apostrophes and lifetimes too often to count).
"""
from __future__ import annotations

import io
import keyword
import tokenize

_OPEN, _CLOSE = "([{", ")]}"
# Python tokens after which a statement cannot end (at bracket depth 0)
_PY_CONTINUES = frozenset(
    "+ - * / // % ** @ = == != < > <= >= | & ^ ~ << >> . , -> := += -= *= /= //= %= **= |= &= ^= >>= <<= @=".split()
) | frozenset("and or not in is if elif else lambda for while with assert del import from as class def "
              "global nonlocal await async".split())
_SKIP = frozenset({tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT,
                   tokenize.ENDMARKER})
_OTHER_CONTINUES = tuple(",+-*/%=&|^([{\\")


def ends_mid_statement(prefix: str, completion: str, rest: str, language: str | None) -> bool:
    if language == "python":
        return _python(prefix, completion, rest)
    return _heuristic(completion, rest)


def _offsets(text: str) -> list[int]:
    """Offsets of tokenize's rows (1-based): lines end at "\n" only, as io.StringIO reads them
    (str.splitlines would also split at \x0c, \x1c, \u2028, ...)."""
    starts, at = [0, 0], text.find("\n")
    while at != -1:
        starts.append(at + 1)
        at = text.find("\n", at + 1)
    return starts


def _python(prefix: str, completion: str, rest: str) -> bool:
    text = prefix + completion + rest
    a, b = len(prefix), len(prefix) + len(completion)
    rows = _offsets(text)

    def at(pos: tuple[int, int]) -> int:
        row, col = pos
        return rows[min(row, len(rows) - 1)] + col

    depth = depth_a = depth_b = 0
    lowest = None  # the lowest bracket depth the text after the completion reaches
    last = None  # the last significant token that starts inside the completion
    after: list[tokenize.TokenInfo] = []  # the first tokens after it (for a header's body)
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            start, end = at(tok.start), at(tok.end)
            if start < a < end and tok.type == tokenize.STRING:
                return False  # the cursor is inside a string of the document: not judged
            if a <= start < b:
                if tok.type == tokenize.STRING and end > b:
                    return True  # a string it opened runs past its end
                if tok.type == tokenize.ERRORTOKEN and tok.string[:1] in "\"'":
                    return True  # an unterminated one-line string (Python < 3.12)
                if tok.type not in _SKIP and not (tok.type == tokenize.ERRORTOKEN and tok.string.isspace()):
                    last = tok
            if tok.type == tokenize.OP and tok.string in _OPEN:
                depth += 1
            elif tok.type == tokenize.OP and tok.string in _CLOSE:
                depth = max(depth - 1, 0)
            if start < a:
                depth_a = depth
            if start < b:
                depth_b = depth
            else:
                lowest = depth if lowest is None else min(lowest, depth)
                if len(after) < 8:
                    after.append(tok)
                elif lowest <= depth_a:
                    break  # nothing left to learn
    except (tokenize.TokenError, SyntaxError) as exc:
        where = _error_offset(exc, at)
        if where is not None and where < b:
            # before the cursor: the document does not read as Python here (not judged); inside
            # the completion: a string it opened never ends, or it is broken otherwise (not judged)
            # (Python 3.12's C tokenizer raises "unterminated string literal" here where 3.11
            # yields an ERRORTOKEN; only 3.11 is exercised by the tests)
            return a <= where and "string" in str(exc.args[0] if exc.args else exc)
    if last is None:
        return False
    if depth_b > depth_a:  # it opened brackets: does the text after it close them?
        return lowest is None or lowest > depth_a
    if depth_b > 0:
        return False  # inside the document's brackets: the text after it may go on
    if last.string in _PY_CONTINUES and (last.type == tokenize.OP or keyword.iskeyword(last.string)):
        return True
    if completion.rstrip().endswith("\\") and last.type != tokenize.COMMENT:
        return True
    if last.type == tokenize.OP and last.string == ":":
        body = next((t for t in after if t.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT)), None)
        return body is None or body.type != tokenize.INDENT
    return False


def _error_offset(exc: Exception, at) -> int | None:
    args = getattr(exc, "args", ())
    if isinstance(exc, SyntaxError) and exc.lineno is not None:
        return at((exc.lineno, max((exc.offset or 1) - 1, 0)))
    if len(args) > 1 and isinstance(args[1], tuple) and len(args[1]) == 2:
        return at(args[1])
    return None


def _heuristic(completion: str, rest: str) -> bool:
    """Brackets and double quotes, line by line; `//` and `#` start comments."""
    stack: list[str] = []
    last = ""
    for line in completion.splitlines():
        quoted, escaped, code = False, False, []
        for i, ch in enumerate(line):
            if quoted:
                if ch == '"' and not escaped:
                    quoted = False
                escaped = not escaped and ch == "\\"
                continue
            if ch == '"':
                quoted = True
            elif ch == "#" or line.startswith("//", i):
                break
            elif ch in _OPEN:
                stack.append(ch)
            elif ch in _CLOSE and stack:
                stack.pop()
            code.append(ch)
        if quoted:
            return True  # a double-quoted string left open at a line's end
        if "".join(code).strip():
            last = "".join(code).rstrip()
    if stack:
        return not _closes(stack, rest)
    return last.endswith(_OTHER_CONTINUES) and not last.endswith(("*/", "++", "--"))


def _closes(stack: list[str], rest: str) -> bool:
    """Whether `rest` closes the brackets left open on `stack`, each by its own kind of closer
    (double-quoted text skipped, roughly); a closer of another kind ends the search."""
    stack, quoted = list(stack), False
    for ch in rest:
        if ch == '"':
            quoted = not quoted
        elif quoted:
            continue
        elif ch in _OPEN:
            stack.append(ch)
        elif ch in _CLOSE:
            if _OPEN[_CLOSE.index(ch)] != stack.pop():
                return False
            if not stack:
                return True
    return False
