"""Timing one request as DESIGN.md defines it and turning it into a RequestRecord."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from bench import RequestRecord, RequestStatus


@dataclass
class Meter:
    """Clock and counters for one request, started when the gateway received it."""

    model: str
    engine: str
    endpoint: str
    stream: bool
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    started_at: float = field(default_factory=time.time)
    _t0: float = field(default_factory=time.perf_counter)
    ttft_ms: float | None = None
    last_content_ms: float | None = None
    content_chunks: int = 0
    prompt_tokens: int | None = None
    completion_tokens: int | None = None

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self._t0) * 1000.0

    def saw_chunk(self, chunk: dict[str, Any]) -> None:
        """Note a streamed chunk: the first one with choices sets TTFT (vLLM's definition).

        Engines that send no usage in streams (llama-cpp-python) get their completion
        tokens counted as chunks with text, which is one per token there."""
        choices = chunk.get("choices")
        if choices:
            now = self.elapsed_ms()
            if self.ttft_ms is None:
                self.ttft_ms = now
            self.last_content_ms = now
            if _has_text(choices[0]):
                self.content_chunks += 1
        self.saw_usage(chunk.get("usage"))

    def saw_usage(self, usage: Any) -> None:
        if isinstance(usage, dict):
            self.prompt_tokens = usage.get("prompt_tokens", self.prompt_tokens)
            self.completion_tokens = usage.get("completion_tokens", self.completion_tokens)

    def record(
        self, status: RequestStatus, http_status: int, error: str | None = None
    ) -> RequestRecord:
        e2e = self.last_content_ms if self.stream else self.elapsed_ms()
        if self.stream and e2e is None:
            e2e = self.elapsed_ms()
        if not self.stream and status == RequestStatus.OK:
            self.ttft_ms = e2e
        if self.stream and self.completion_tokens is None and self.content_chunks:
            self.completion_tokens = self.content_chunks
        return RequestRecord(
            id=self.id,
            model=self.model,
            engine=self.engine,
            endpoint=self.endpoint,
            stream=self.stream,
            started_at=self.started_at,
            status=status,
            http_status=http_status,
            ttft_ms=self.ttft_ms,
            e2e_ms=e2e,
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            error=error,
        )


def _has_text(choice: Any) -> bool:
    if not isinstance(choice, dict):
        return False
    delta = choice.get("delta")
    text = delta.get("content") if isinstance(delta, dict) else choice.get("text")
    return bool(text)
