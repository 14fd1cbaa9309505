"""Infill jobs and their results: the contract between the engine and everything that calls it.

An InfillJob is text in, an InfillResult is text out. The engine knows nothing about editors,
URIs or LSP; `key` is an opaque string (a document id) used only for latest-wins and cache reuse.

A job has one gap (prefix | gap | suffix) or several (`segments`: text, gap, text, gap, ..., text);
all gaps of one job are denoised jointly, each seeing the others being filled.
"""
from __future__ import annotations

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
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        if self.max_tokens < 1:
            raise ValueError(f"max_tokens must be >= 1, got {self.max_tokens}")
        if self.segments is not None and len(self.segments) < 2:
            raise ValueError("segments needs at least two texts (one gap)")

    @property
    def texts(self) -> list[str]:
        """The texts around the gaps, in order (prefix, suffix for a single gap)."""
        return list(self.segments) if self.segments is not None else [self.prefix, self.suffix]


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
