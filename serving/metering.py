"""Timing one request as docs/architecture.md ("Measuring") defines it, and turning it
into a RequestRecord."""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, ClassVar

from bench.sse import DONE
from serving.errors import ApiError
from storage import RequestRecord, RequestStatus

TEXT = re.compile(rb'"(?:content|text)"\s*:\s*"[^"]')
"""A choice's non-empty text in an OpenAI chunk, as the JSON bytes spell it."""


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
    quick_events: ClassVar[bool] = True
    """Whether token events may be noted without parsing (OpenAI's chunks: saw_quickly)."""
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

    def saw_quickly(self, data: bytes) -> bool:
        """Note an event without parsing it, where that is exact, and say whether it was.

        After the first chunk with choices, an OpenAI chunk without usage or an error only
        moves the clock and, if it has text, the count: every token's event but the last
        ones is this, and parsing each (the gateway's costliest step per token, about 12 µs
        here: docs/benchmarks.md) is left to the client. Anything else is parsed, and every
        event of an API whose meter sets `quick_events` False."""
        if not self.quick_events or self.ttft_ms is None or data == DONE:
            return False
        if b'"usage"' in data or b'"error"' in data:
            return False  # parsed: its usage is recorded, its error relayed as one
        self.last_content_ms = self.elapsed_ms()
        if TEXT.search(data):
            self.content_chunks += 1
        return True

    def saw_usage(self, usage: Any) -> None:
        """OpenAI's usage names, or the Anthropic and Responses ones (`input_tokens`, which
        Anthropic counts without the cached part it reports beside)."""
        if not isinstance(usage, dict):
            return
        inputs, cached = usage.get("input_tokens"), usage.get("cache_read_input_tokens")
        if isinstance(inputs, int):
            self.prompt_tokens = inputs + (cached if isinstance(cached, int) else 0)
        self.prompt_tokens = usage.get("prompt_tokens", self.prompt_tokens)
        self.completion_tokens = usage.get("completion_tokens", self.completion_tokens)
        self.completion_tokens = usage.get("output_tokens", self.completion_tokens)

    def saw_token(self) -> None:
        """A streamed event carrying generated text: the first sets TTFT."""
        now = self.elapsed_ms()
        if self.ttft_ms is None:
            self.ttft_ms = now
        self.last_content_ms = now
        self.content_chunks += 1

    def error_event(self, error: ApiError) -> bytes:
        """`error` as the stream's last event, in the stream's own dialect."""
        return error.sse_event()

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


class AnthropicMeter(Meter):
    """Anthropic's stream: the first `content_block_delta` is the first token; usage comes
    in `message_start` (input) and `message_delta` (output)."""

    quick_events = False

    def saw_chunk(self, chunk: dict[str, Any]) -> None:
        kind = chunk.get("type")
        if kind == "content_block_delta":
            self.saw_token()
        elif kind == "message_start" and isinstance(chunk.get("message"), dict):
            self.saw_usage(chunk["message"].get("usage"))
        elif kind == "message_delta":
            self.saw_usage(chunk.get("usage"))

    def error_event(self, error: ApiError) -> bytes:
        return error.anthropic_sse_event()


class ResponsesMeter(Meter):
    """The Responses API's stream: text arrives in `response.output_text.delta` events,
    usage in `response.completed`."""

    quick_events = False

    def saw_chunk(self, chunk: dict[str, Any]) -> None:
        kind = chunk.get("type")
        if kind == "response.output_text.delta":
            self.saw_token()
        elif kind == "response.completed" and isinstance(chunk.get("response"), dict):
            self.saw_usage(chunk["response"].get("usage"))
