"""The fields the gateway checks before a request reaches an engine.

Only what must be right for routing and for a clear error is declared; every other field
passes through to the engine untouched (`extra="allow"`). The gateway validates in strict
mode: `"stream": "false"` is a 400 naming `stream`, never a truthy string. These models
also describe the request bodies in the OpenAPI schema (serving/openapi.py).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class ChatMessage(_Open):
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None


class StreamOptions(_Open):
    include_usage: bool | None = None


class _Generation(_Open):
    model: str = Field(min_length=1)
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(None, ge=0)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    n: int | None = Field(None, ge=1, le=1)


class ChatCompletionRequest(_Generation):
    messages: list[ChatMessage] = Field(min_length=1)
    max_completion_tokens: int | None = Field(None, ge=0)


class CompletionRequest(_Generation):
    prompt: str | list[str] | list[int] | list[list[int]]


class EmbeddingRequest(_Open):
    model: str = Field(min_length=1)
    input: str | list[str] | list[int] | list[list[int]]


class AnthropicMessage(_Open):
    role: Literal["user", "assistant"]
    content: str | list[dict[str, Any]]


class _AnthropicPrompt(_Open):
    model: str = Field(min_length=1)
    messages: list[AnthropicMessage] = Field(min_length=1)
    system: str | list[dict[str, Any]] | None = None


class MessagesCountRequest(_AnthropicPrompt):
    """Anthropic's `POST /v1/messages/count_tokens`."""


class MessagesRequest(_AnthropicPrompt):
    """Anthropic's Messages API (`POST /v1/messages`)."""

    max_tokens: int = Field(ge=1)
    stream: bool | None = None
    temperature: float | None = Field(None, ge=0, le=1)
    top_p: float | None = Field(None, ge=0, le=1)
    top_k: int | None = Field(None, ge=0)
    stop_sequences: list[str] | None = None


class ResponsesRequest(_Open):
    """OpenAI's Responses API (`POST /v1/responses`)."""

    model: str = Field(min_length=1)
    input: str | list[dict[str, Any]]
    instructions: str | None = None
    max_output_tokens: int | None = Field(None, ge=1)
    stream: bool | None = None
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    previous_response_id: str | None = None


class RerankRequest(_Open):
    model: str = Field(min_length=1)
    query: str
    documents: list[str] = Field(min_length=1)
    top_n: int | None = Field(None, ge=1)


class TokenizeRequest(_Open):
    """llama-server's `POST /tokenize`, with the `model` that routes it."""

    model: str = Field(min_length=1)
    content: str
    add_special: bool | None = None
    with_pieces: bool | None = None


class DetokenizeRequest(_Open):
    model: str = Field(min_length=1)
    tokens: list[int]
