"""Infill jobs and their results: the contract between the engine and everything that calls it.

An InfillJob is text in, an InfillResult is text out. The engine knows nothing about editors,
URIs or LSP; `key` is an opaque string (a document id) used only for latest-wins and cache reuse.

A job has one gap (prefix | gap | suffix) or several (`segments`: text, gap, text, gap, ..., text);
all gaps of one job are denoised jointly, each seeing the others being filled.
"""
from __future__ import annotations

import math
import numbers
import threading
import time
from dataclasses import dataclass, field
from typing import Any

MODES = ("line", "block", "span")
STOP_REASONS = ("eos", "pad", "eol", "budget", "cancelled", "deadline", "error")


@dataclass
class InfillJob:
    """One fill-in-the-middle request.

    prefix/suffix: the text around a single gap. segments: instead of prefix/suffix, the texts
    around several gaps (len(segments) - 1 gaps). mode: "line" stops at the first newline and
    returns text without it; "block" fills up to max_tokens and stops at eos/pad; "span" is block
    with a gap sized from `gap_tokens` (a selection being rewritten). max_tokens: budget per gap.
    gap_tokens: initial gap length (None = the strategy's default for the mode); the gap grows
    while budget remains and shrinks by right-edge padding. deadline_s: seconds from submit.
    key: latest-wins identity (a newer job with the same key cancels this one).
    preamble: context from elsewhere (other files) placed before the prefix; it keeps its head within
    a quarter of the model's window, however long the prefix is.
    """

    prefix: str = ""
    suffix: str = ""
    mode: str = "line"
    max_tokens: int = 64
    strategy: str = "auto"  # the model's choice (runtime/decoding: resolve), else a strategy's name
    params: dict[str, Any] = field(default_factory=dict)
    segments: list[str] | None = None
    gap_tokens: int | list[int] | None = None
    key: str | None = None
    deadline_s: float | None = None
    preamble: str = ""

    def __post_init__(self) -> None:
        self.check()

    def check(self) -> None:
        """Every field's type and range, or ValueError naming the field. Jobs arrive from other
        processes (the daemon) and user settings: an ill-typed one must fail here, alone, rather
        than inside a batch step it shares with other jobs. Run again at submit (fields may have
        been reassigned since construction); strategy params are the strategies' own to check."""
        for name in ("prefix", "suffix", "preamble", "strategy"):
            _expect(isinstance(getattr(self, name), str), name, "a str", getattr(self, name))
        _expect(isinstance(self.mode, str) and self.mode in MODES, "mode", f"one of {MODES}", self.mode)
        _expect(_is_int(self.max_tokens) and self.max_tokens >= 1, "max_tokens", "an int >= 1", self.max_tokens)
        _expect(isinstance(self.params, dict) and all(isinstance(k, str) for k in self.params),
                "params", "a map with str keys", self.params)
        if self.segments is not None:
            _expect(isinstance(self.segments, (list, tuple)) and len(self.segments) >= 2, "segments",
                    "a list of at least two texts (one gap)", self.segments)
            for text in self.segments:
                _expect(isinstance(text, str), "segments", "a list of str", text)
        n_gaps = len(self.texts) - 1
        if isinstance(self.gap_tokens, list):
            _expect(len(self.gap_tokens) == n_gaps and all(map(_gap_size_ok, self.gap_tokens)), "gap_tokens",
                    f"a list of {n_gaps} ints >= 0 or None", self.gap_tokens)
        else:
            _expect(_gap_size_ok(self.gap_tokens), "gap_tokens", "an int >= 0, a list of them, or None", self.gap_tokens)
        _expect(self.key is None or isinstance(self.key, str), "key", "a str or None", self.key)
        d = self.deadline_s
        _expect(d is None or (isinstance(d, numbers.Real) and not isinstance(d, bool) and not math.isnan(d)),
                "deadline_s", "a number of seconds or None", d)

    @property
    def texts(self) -> list[str]:
        """The texts around the gaps, in order (prefix, suffix for a single gap)."""
        return list(self.segments) if self.segments is not None else [self.prefix, self.suffix]


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _gap_size_ok(n: Any) -> bool:
    return n is None or (_is_int(n) and n >= 0)  # None or 0: the mode's default size


def _expect(ok: bool, name: str, what: str, value: Any) -> None:
    if not ok:
        text = repr(value)  # short: a value may be megabytes long
        text = text if len(text) <= 40 else text[:37] + "..."
        raise ValueError(f"job field {name!r} must be {what}, got {type(value).__name__} {text}")


@dataclass
class InfillResult:
    """What the model wrote. text is the first gap's text; texts has one entry per gap.

    tokens: tokens committed across gaps (padding excluded); steps: denoising steps run;
    confidence: mean probability of the committed tokens (0..1); stop_reason: one of STOP_REASONS;
    timings: milliseconds per phase (tokenize, prefill, steps, postprocess, total, queue).
    """

    text: str
    texts: list[str]
    tokens: int
    steps: int
    stop_reason: str
    confidence: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def tokens_per_step(self) -> float:
        return self.tokens / self.steps if self.steps else 0.0

    @classmethod
    def empty(cls, n_gaps: int, stop_reason: str, timings: dict[str, float] | None = None) -> "InfillResult":
        return cls("", [""] * n_gaps, 0, 0, stop_reason, 0.0, dict(timings or {}))


class CancelToken:
    """A flag checked between denoising steps; set by cancel(), a superseding job or a deadline."""

    def __init__(self, deadline_s: float | None = None) -> None:
        self._event = threading.Event()
        self.reason = "cancelled"
        self.steps = 0  # denoising steps run so far (progress, read by tests and status)
        self.deadline = time.monotonic() + deadline_s if deadline_s is not None else None

    def cancel(self, reason: str = "cancelled") -> None:
        if not self._event.is_set():
            self.reason = reason
            self._event.set()

    def stopped(self) -> str | None:
        """The stop reason if the job must stop now, else None."""
        if self._event.is_set():
            return self.reason
        if self.deadline is not None and time.monotonic() >= self.deadline:
            return "deadline"
        return None
