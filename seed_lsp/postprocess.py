"""Post-processing: turn the model's gap text into what the editor shows, or into nothing.

plan_item(text, ctx...) -> Suggestion(insert_text, replace) | None. `replace` is how many characters
after the cursor (on the cursor's line) the item replaces: when the completion types again text that
follows the cursor (a closing ")" or ":"), the item's range covers that text, so accepting replaces
it instead of duplicating it. Which overlap to take is decided on the cursor line as a whole: among
the candidate lengths (0, and each prefix of the line suffix that the completion contains in order)
keep the one whose resulting line has the fewest unbalanced brackets, then the one where the
completion ends exactly with the replaced text, then the longest.

No suggestion (shown only when it may be right): hidden_reason() names the first rule that hides
a completion, plan_item() applies them all:
  confidence     the mean probability of its tokens is under the floor (options.confidence_floor,
                 chosen from the single-line coverage/precision curve, docs/eval.md);
  blank          empty or only whitespace;
  no_change      accepting it would leave the document as it is;
  repeats_suffix it is the text that already follows the cursor;
  repeats_above  the first line it leaves equals the non-blank line above the cursor's line;
  repeats_below  the last line it leaves equals the non-blank line below the cursor's line;
                 (lines without a letter or digit, or of one word such as `}`, `end`, `else:`,
                 are never counted as repeats: code repeats them legitimately);
  mid_statement  (block mode, and only where it ends its line) it ends mid-statement: a string it
                 opened is not closed, a bracket it opened is closed neither by it nor by the text
                 after it, or it ends with an operator, comma, backslash or a compound statement's
                 ":" with no body after it. Python is read with tokenize (seed_lsp/statement_end.py);
                 other languages with a bracket and double-quote heuristic. Line mode is exempt: a
                 line completion may legitimately end where the user goes on typing.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from seed_lsp.statement_end import ends_mid_statement

_OPEN, _CLOSE = "([{", ")]}"
_BLANK = " \t\r\n\f\v"  # code whitespace (str.isspace() also counts control characters)


@dataclass(frozen=True)
class Suggestion:
    insert_text: str
    replace: int = 0  # characters after the cursor that the insert text replaces


def is_blank(text: str) -> bool:
    return not text.strip(_BLANK)


def bracket_problems(line: str) -> int:
    """Unmatched closers plus unclosed openers on one line, skipping quoted strings (roughly)."""
    stack: list[str] = []
    problems = 0
    quote = None
    escaped = False
    for ch in line:
        if quote:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = None
            continue
        if ch in "\"'":
            quote = ch
        elif ch in _OPEN:
            stack.append(ch)
        elif ch in _CLOSE:
            if stack and _OPEN[_CLOSE.index(ch)] == stack[-1]:
                stack.pop()
            else:
                problems += 1
    return problems + len(stack)


def _contains_in_order(text: str, part: str) -> bool:
    it = iter(text)
    return all(ch in it for ch in part)


def choose_overlap(completion: str, line_prefix: str, line_suffix: str) -> int:
    """How many characters of line_suffix the completion replaces (see module docstring)."""
    last_line = completion.rsplit("\n", 1)[-1]
    head = line_prefix if "\n" not in completion else ""
    best, best_key = 0, None
    for r in range(0, len(line_suffix) + 1):
        typed = line_suffix[:r]
        if r and (is_blank(typed[-1]) or not _contains_in_order(last_line, typed.strip(_BLANK))):
            continue
        key = (bracket_problems(head + last_line + line_suffix[r:]), 0 if (r == 0 or last_line.endswith(typed)) else 1, -r)
        if best_key is None or key < best_key:
            best, best_key = r, key
    return best


def clean(text: str, mode: str) -> str:
    """Trailing whitespace off; line mode keeps the first line only."""
    if mode == "line":
        text = text.split("\n", 1)[0].rstrip("\r")
    return text.rstrip(_BLANK)


def repeats_suffix(completion: str, suffix: str) -> bool:
    """The completion is the text that already follows the cursor (e.g. the next line again)."""
    core = completion.strip(_BLANK)
    return bool(core) and suffix.lstrip(_BLANK).startswith(core)


_TRIVIAL = re.compile(r"^[\W_]*$|^\w+\s*[:;]?$")  # no letter or digit, or one word: repeated legitimately


def _lines(text: str) -> list[str]:
    return [line.strip(_BLANK) for line in text.splitlines() if line.strip(_BLANK)]


def repeated_line(new_text: str, above: str, below: str) -> str | None:
    """'repeats_above' / 'repeats_below' when the first / last non-blank line of new_text (the
    cursor line as accepting would leave it, and the lines the completion adds) equals the non-blank
    line above / below it; None otherwise. Trivial lines (see _TRIVIAL) never count."""
    lines = _lines(new_text)
    if not lines:
        return None
    up, down = _lines(above)[-1:], _lines(below)[:1]
    if up and lines[0] == up[0] and not _TRIVIAL.match(lines[0]):
        return "repeats_above"
    if down and lines[-1] == down[0] and not _TRIVIAL.match(lines[-1]):
        return "repeats_below"
    return None


def language_of(uri: str) -> str | None:
    """"python" for .py / .pyi / .pyw documents; None (the bracket heuristic) otherwise."""
    return "python" if uri.lower().endswith((".py", ".pyi", ".pyw")) else None


def hidden_reason(text: str, line_prefix: str, line_suffix: str, suffix: str, mode: str, confidence: float,
                  floor: float, prefix: str | None = None, language: str | None = None) -> str | None:
    """The rule (module docstring) that hides this completion, or None when it is shown. prefix: the
    text before the cursor (its end is line_prefix; None: only the cursor line is known, so no line
    above and no outer brackets); suffix: the text after the cursor (its start is line_suffix)."""
    if confidence < floor:
        return "confidence"
    completion = clean(text, mode)
    if is_blank(completion):
        return "blank"
    replace = choose_overlap(completion, line_prefix, line_suffix)
    if completion == line_suffix[:replace]:
        return "no_change"  # accepting would change nothing
    if replace == 0 and repeats_suffix(completion, suffix):
        return "repeats_suffix"
    prefix = line_prefix if prefix is None else prefix
    above = prefix[: len(prefix) - len(line_prefix)] if prefix.endswith(line_prefix) else ""
    rest = suffix[replace:] if suffix.startswith(line_suffix) else line_suffix[replace:]
    line_rest, _, below = rest.partition("\n")
    why = repeated_line(line_prefix + completion + line_rest, above, below)
    if why:
        return why
    if mode == "block" and is_blank(line_rest) and ends_mid_statement(prefix, completion, rest, language):
        return "mid_statement"
    return None


def plan_item(text: str, line_prefix: str, line_suffix: str, suffix: str, mode: str,
              confidence: float, floor: float, prefix: str | None = None,
              language: str | None = None) -> Suggestion | None:
    """What the editor shows for the model's gap text, or None (hidden_reason names why)."""
    if hidden_reason(text, line_prefix, line_suffix, suffix, mode, confidence, floor, prefix, language):
        return None
    completion = clean(text, mode)
    return Suggestion(completion, choose_overlap(completion, line_prefix, line_suffix))
