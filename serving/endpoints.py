"""The endpoints the gateway forwards to engines, and which engine answers which.

Chat, completions and embeddings are the OpenAI core every engine serves. The rest are
answered only by engines that serve them natively (`LaunchSpec.native_endpoints`):
llama-server speaks Anthropic's Messages API, OpenAI's Responses API, reranking and
tokenize/detokenize. An engine without one gets a 400 (code `unsupported_by_engine`; the
request asks something of the model it cannot give, and nothing failed) naming the engine
and what it lacks
(README.md, "Anthropic, Responses, rerank and tokenize"): translating Messages or
Responses into chat completions would not be exact (content blocks, stop reasons, cached
token counts), so nothing is translated.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from engines.supervisor import ManagedEngine
from serving.assemble import (
    Assembler,
    ChatAssembler,
    CompletionAssembler,
    MessagesAssembler,
    ResponsesAssembler,
)
from serving.errors import INVALID_REQUEST, ApiError
from serving.metering import AnthropicMeter, Meter, ResponsesMeter
from serving.schemas import (
    ChatCompletionRequest,
    CompletionRequest,
    DetokenizeRequest,
    EmbeddingRequest,
    MessagesCountRequest,
    MessagesRequest,
    RerankRequest,
    ResponsesRequest,
    TokenizeRequest,
)


@dataclass(frozen=True)
class Endpoint:
    path: str
    name: str
    schema: type[BaseModel]
    prompt_param: str
    streams: bool = True
    native_only: bool = False
    """Served only by engines that list `path` in their native endpoints."""
    meter: type[Meter] = Meter
    """Reads this API's stream events (TTFT, tokens)."""
    assembler: type[Assembler] | None = None
    """Puts a whole answer together from this API's stream (LaunchSpec.whole_answers_streamed)."""
    asks_usage: bool = False
    """Takes OpenAI's `stream_options.include_usage`, which the gateway sets to meter."""
    anthropic: bool = False
    """Errors in Anthropic's shape."""
    api: str = "OpenAI"
    hint: str = ""
    """How to get this endpoint where an engine lacks it."""


LLAMA_SERVER_HINT = "serve the model with llama-server (the default llama.cpp runtime)"

CHAT = Endpoint(
    "/v1/chat/completions", "chat.completions", ChatCompletionRequest, "messages",
    assembler=ChatAssembler, asks_usage=True,
)  # fmt: skip
COMPLETIONS = Endpoint(
    "/v1/completions", "completions", CompletionRequest, "prompt",
    assembler=CompletionAssembler, asks_usage=True,
)  # fmt: skip
EMBEDDINGS = Endpoint("/v1/embeddings", "embeddings", EmbeddingRequest, "input", streams=False)
MESSAGES = Endpoint(
    "/v1/messages", "messages", MessagesRequest, "messages", native_only=True,
    meter=AnthropicMeter, assembler=MessagesAssembler, anthropic=True, api="Anthropic",
    hint=LLAMA_SERVER_HINT,
)  # fmt: skip
COUNT_TOKENS = Endpoint(
    "/v1/messages/count_tokens", "messages.count_tokens", MessagesCountRequest, "messages",
    streams=False, native_only=True, anthropic=True, api="Anthropic", hint=LLAMA_SERVER_HINT,
)  # fmt: skip
RESPONSES = Endpoint(
    "/v1/responses", "responses", ResponsesRequest, "input", native_only=True,
    meter=ResponsesMeter, assembler=ResponsesAssembler, hint=LLAMA_SERVER_HINT,
)  # fmt: skip
RERANK = Endpoint(
    "/v1/rerank", "rerank", RerankRequest, "documents", streams=False, native_only=True,
    api="Rerank", hint="launch a reranker model on llama-server with --reranking",
)  # fmt: skip
TOKENIZE = Endpoint(
    "/tokenize", "tokenize", TokenizeRequest, "content", streams=False, native_only=True,
    api="llama.cpp", hint=LLAMA_SERVER_HINT,
)  # fmt: skip
DETOKENIZE = Endpoint(
    "/detokenize", "detokenize", DetokenizeRequest, "tokens", streams=False, native_only=True,
    api="llama.cpp", hint=LLAMA_SERVER_HINT,
)  # fmt: skip

FORWARDED = {
    e.path: e
    for e in (CHAT, COMPLETIONS, EMBEDDINGS, MESSAGES, COUNT_TOKENS, RESPONSES, RERANK, TOKENIZE,
              DETOKENIZE)
}  # fmt: skip
"""Every endpoint the gateway forwards, by path (served by OpenAIForwarding)."""


def check_body(engine: ManagedEngine, endpoint: Endpoint, parsed: BaseModel) -> None:
    """What only the engine's model can tell wrong: a token id outside its vocabulary."""
    vocab = engine.spec.vocab_size if engine.spec else None
    if endpoint is not DETOKENIZE or vocab is None or not isinstance(parsed, DetokenizeRequest):
        return
    for index, token in enumerate(parsed.tokens):
        if not 0 <= token < vocab:
            message = f"Invalid value for 'tokens.{index}': {token} is not a token id of "
            message += f"the model (0 to {vocab - 1})."
            raise ApiError(
                400, message, INVALID_REQUEST, param=f"tokens.{index}", code="invalid_value"
            )


def check_served(engine: ManagedEngine, model: str, endpoint: Endpoint) -> None:
    """Refuse an endpoint the engine does not answer, naming the engine and what it lacks."""
    spec = engine.spec
    if not endpoint.native_only or (spec is not None and endpoint.path in spec.native_endpoints):
        return
    runtime = f" ({spec.runtime})" if spec is not None else ""
    message = (
        f"'{model}' is served by {engine.request.adapter.engine_id}{runtime}, which does not "
        f"answer {endpoint.path}; {endpoint.hint}."
    )
    raise ApiError(400, message, INVALID_REQUEST, param="model", code="unsupported_by_engine")
