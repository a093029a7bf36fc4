"""Live metrics of a running server: rolling windows over the gateway's request records.

The server feeds every finished request's RequestRecord to `LiveMetrics.observe` (the
recorder calls it as the gateway submits the record); front ends read `snapshot()`:
per model and per window (1 min, 15 min), TTFT/TPOT/E2E percentiles, tokens/s, requests/s
and the error rate. In memory only: the SQLite store keeps the history.

TTFT and TPOT come from streamed requests only (a non-streamed answer's first token is its
last); E2E from every completed request. Errors are requests that ended neither OK nor
cancelled by their client.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

from bench.stats import summarize
from storage.records import RequestRecord, RequestStatus

WINDOWS_S = {"1m": 60.0, "15m": 900.0}
UNROUTED = "(unrouted)"
"""Requests refused before reaching an engine (unknown model, bad JSON) are counted under
this name, so a client typing model names cannot create one series per name."""
MAX_KEPT = 200_000
"""Records kept per model; above ~220 requests/s the 15-minute window is cut short."""


@dataclass(frozen=True)
class WindowStats:
    window_s: float
    span_s: float
    """Seconds the rates are over: the window, or less while the server is younger."""
    requests: int
    ok: int
    errors: int
    cancelled: int
    error_rate: float | None
    requests_per_s: float
    output_tokens_per_s: float
    input_tokens_per_s: float
    ttft_ms: dict[str, float]
    tpot_ms: dict[str, float]
    e2e_ms: dict[str, float]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def model_key(record: RequestRecord) -> str:
    return record.model if record.engine and record.model else UNROUTED


def tpot_ms(record: RequestRecord) -> float | None:
    tokens = record.completion_tokens or 0
    if record.ttft_ms is None or record.e2e_ms is None or tokens < 2:
        return None
    return (record.e2e_ms - record.ttft_ms) / (tokens - 1)


def window_stats(records: Iterable[RequestRecord], window_s: float, span_s: float) -> WindowStats:
    rows = list(records)
    ok = [r for r in rows if r.status == RequestStatus.OK]
    streamed = [r for r in ok if r.stream]
    cancelled = sum(1 for r in rows if r.status == RequestStatus.CANCELLED)
    errors = len(rows) - len(ok) - cancelled
    span = max(span_s, 1e-9)
    return WindowStats(
        window_s=window_s,
        span_s=span_s,
        requests=len(rows),
        ok=len(ok),
        errors=errors,
        cancelled=cancelled,
        error_rate=errors / len(rows) if rows else None,
        requests_per_s=len(rows) / span,
        output_tokens_per_s=sum(r.completion_tokens or 0 for r in ok) / span,
        input_tokens_per_s=sum(r.prompt_tokens or 0 for r in ok) / span,
        ttft_ms=summarize([r.ttft_ms for r in streamed if r.ttft_ms is not None]),
        tpot_ms=summarize([t for r in streamed if (t := tpot_ms(r)) is not None]),
        e2e_ms=summarize([r.e2e_ms for r in ok if r.e2e_ms is not None]),
    )


class LiveMetrics:
    """Thread-safe; `observe` is cheap (an append), the statistics are computed on read."""

    def __init__(self, clock: Callable[[], float] = time.time, horizon_s: float = 900.0) -> None:
        self._clock = clock
        self._horizon_s = horizon_s
        self._started = clock()
        self._lock = threading.Lock()
        self._recent: dict[str, deque[tuple[float, RequestRecord]]] = {}
        self._totals: Counter[tuple[str, str]] = Counter()
        self._tokens: Counter[tuple[str, str]] = Counter()

    def observe(self, record: RequestRecord) -> None:
        """Note a finished request (now is its finishing time)."""
        model, now = model_key(record), self._clock()
        with self._lock:
            recent = self._recent.setdefault(model, deque(maxlen=MAX_KEPT))
            recent.append((now, record))
            self._totals[(model, str(record.status))] += 1
            if record.status == RequestStatus.OK:
                self._tokens[(model, "prompt")] += record.prompt_tokens or 0
                self._tokens[(model, "completion")] += record.completion_tokens or 0
            self._prune(now)

    def _prune(self, now: float) -> None:
        oldest = now - self._horizon_s
        for recent in self._recent.values():
            while recent and recent[0][0] < oldest:
                recent.popleft()

    def models(self) -> list[str]:
        with self._lock:
            return sorted(self._recent)

    def window(self, model: str, window_s: float) -> WindowStats:
        now = self._clock()
        with self._lock:
            rows = [r for at, r in self._recent.get(model, ()) if at >= now - window_s]
        return window_stats(rows, window_s, min(window_s, now - self._started))

    def snapshot(self) -> dict[str, Any]:
        """{"at", "uptime_s", "models": {model: {"1m": {...}, "15m": {...}}}}, JSON-ready."""
        now = self._clock()
        models = {
            model: {
                name: self.window(model, seconds).as_dict() for name, seconds in WINDOWS_S.items()
            }
            for model in self.models()
        }
        return {"at": now, "uptime_s": now - self._started, "models": models}

    def totals(self) -> dict[str, Any]:
        """Counts since the server started: requests by (model, status), tokens by kind."""
        with self._lock:
            return {"requests": dict(self._totals), "tokens": dict(self._tokens)}
