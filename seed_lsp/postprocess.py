"""Post-processing: turn the model's gap text into what the editor shows, or into nothing.

plan_item(text, ctx...) -> Suggestion(insert_text, replace) | None. `replace` is how many characters
after the cursor (on the cursor's line) the item replaces: when the completion types again text that
follows the cursor (a closing ")" or ":"), the item's range covers that text, so accepting replaces
it instead of duplicating it. Which overlap to take is decided on the cursor line as a whole: among
the candidate lengths (0, and each prefix of the line suffix that the completion contains in order)
keep the one whose resulting line has the fewest unbalanced brackets, then the one where the
completion ends exactly with the replaced text, then the longest.

No suggestion (never show garbage) when the completion is empty or only whitespace, leaves the
document unchanged, repeats the text that follows the cursor, or its confidence is under the floor.
"""
from __future__ import annotations

from dataclasses import dataclass

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


def plan_item(text: str, line_prefix: str, line_suffix: str, suffix: str, mode: str,
              confidence: float, floor: float) -> Suggestion | None:
    if confidence < floor:
        return None
    completion = clean(text, mode)
    if is_blank(completion):
        return None
    replace = choose_overlap(completion, line_prefix, line_suffix)
    if completion == line_suffix[:replace]:
        return None  # accepting would change nothing
    if replace == 0 and repeats_suffix(completion, suffix):
        return None
    return Suggestion(completion, replace)
