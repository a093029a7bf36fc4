"""Streaming one chat answer from the OpenAI endpoint, timed as docs/architecture.md
("Measuring") defines it.

Blocking (httpx), for a thread worker: `on_progress` is called with the whole answer so
far, so the UI may drop all but the newest update without losing text. TTFT is request
sent -> first chunk with non-empty `choices`; the decode rate is
`(tokens - 1) / (E2E - TTFT)`, tokens from the server's `usage` when it sends one.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import httpx
from httpx_sse import EventSource

STOPPED = "stopped by you (ctrl+t)"
"""The finish reason of an answer the user stopped: not an error, the text so far is kept."""


@dataclass(frozen=True)
class ChatTurn:
    role: str
    content: str


@dataclass(frozen=True)
class ChatParams:
    model: str
    system_prompt: str = ""
    temperature: float = 0.7
    max_tokens: int = 256

    def body(self, history: Sequence[ChatTurn]) -> dict[str, Any]:
        system = [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []
        return {
            "model": self.model,
            "messages": system + [{"role": t.role, "content": t.content} for t in history],
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "stream": True,
            "stream_options": {"include_usage": True},
        }


@dataclass(frozen=True)
class Answer:
    """An answer so far (or complete, when `done`)."""

    text: str = ""
    ttft_ms: float | None = None
    elapsed_ms: float = 0.0
    chunks: int = 0
    completion_tokens: int | None = None
    done: bool = False
    error: str | None = None
    finish_reason: str | None = None

    @property
    def tokens(self) -> int:
        return self.completion_tokens if self.completion_tokens is not None else self.chunks

    @property
    def tokens_per_s(self) -> float | None:
        """Decode rate after the first token; None until there are two tokens."""
        if self.ttft_ms is None or self.tokens < 2 or self.elapsed_ms <= self.ttft_ms:
            return None
        return (self.tokens - 1) / ((self.elapsed_ms - self.ttft_ms) / 1000.0)


def _apply(answer: Answer, chunk: dict[str, Any], now_ms: float) -> Answer:
    if "error" in chunk:
        message = chunk["error"].get("message") if isinstance(chunk["error"], dict) else None
        return replace(answer, error=str(message or chunk["error"]))
    usage = chunk.get("usage")
    if isinstance(usage, dict) and usage.get("completion_tokens") is not None:
        answer = replace(answer, completion_tokens=int(usage["completion_tokens"]))
    choices = chunk.get("choices") or []
    if not choices:
        return answer
    ttft = answer.ttft_ms if answer.ttft_ms is not None else now_ms
    delta = choices[0].get("delta") or {}
    text = delta.get("content") or ""
    return replace(
        answer,
        text=answer.text + text,
        ttft_ms=ttft,
        elapsed_ms=now_ms if text else answer.elapsed_ms,
        chunks=answer.chunks + (1 if text else 0),
        finish_reason=choices[0].get("finish_reason") or answer.finish_reason,
    )


def _error_of(response: httpx.Response) -> str:
    try:
        return str(json.loads(response.read())["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return f"HTTP {response.status_code}"


def stream_answer(
    openai_url: str,
    body: dict[str, Any],
    on_progress: Callable[[Answer], object],
    *,
    cancel: threading.Event | None = None,
    api_key: str | None = None,
    timeout_s: float = 300.0,
) -> Answer:
    """Stream one answer; returns it complete (or with `error` set). Never raises for
    what the server says; a cancelled stream ends with the text so far."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    started = time.perf_counter()
    answer = Answer()
    try:
        with httpx.stream(
            "POST",
            f"{openai_url}/chat/completions",
            json=body,
            headers=headers,
            timeout=timeout_s,
            trust_env=False,
        ) as response:
            if response.status_code != 200:
                return replace(answer, done=True, error=_error_of(response))
            for event in EventSource(response).iter_sse():
                if cancel is not None and cancel.is_set():
                    answer = replace(answer, finish_reason=STOPPED)
                    break
                if event.data == "[DONE]":
                    continue
                now = (time.perf_counter() - started) * 1000.0
                answer = _apply(answer, event.json(), now)
                on_progress(answer)
                if answer.error:
                    break
    except httpx.HTTPError as error:
        answer = replace(answer, error=f"{type(error).__name__}: {error}")
    elapsed = answer.elapsed_ms or (time.perf_counter() - started) * 1000.0
    return replace(answer, done=True, elapsed_ms=elapsed)
