"""Engine counters and latency percentiles (a bounded window of recent latencies)."""
from __future__ import annotations

import threading
from collections import deque

from runtime.jobs import InfillResult


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


class EngineStats:
    def __init__(self, window: int = 1000) -> None:
        self._lock = threading.Lock()
        self.jobs = self.cancelled = self.superseded = self.errors = self.tokens = self.steps = self.joined = 0
        self.stop_reasons: dict[str, int] = {}
        self.latencies: deque[float] = deque(maxlen=window)

    def record(self, result: InfillResult, latency_ms: float) -> None:
        with self._lock:
            self.jobs += 1
            self.stop_reasons[result.stop_reason] = self.stop_reasons.get(result.stop_reason, 0) + 1
            if result.stop_reason in ("cancelled", "deadline"):
                self.cancelled += 1
                return
            self.tokens += result.tokens
            self.steps += result.steps
            self.latencies.append(latency_ms)

    def snapshot(self) -> dict:
        with self._lock:
            lat = list(self.latencies)
            return {
                "jobs": self.jobs, "cancelled": self.cancelled, "superseded": self.superseded, "errors": self.errors,
                "joined": self.joined,
                "tokens": self.tokens, "steps": self.steps,
                "tokens_per_step": self.tokens / self.steps if self.steps else 0.0,
                "stop_reasons": dict(self.stop_reasons),
                "latency_ms": {f"p{q}": percentile(lat, q) for q in (50, 95, 99)},
            }
