"""The OpenAI gateway: validate, route by `model`, forward to the engine, measure, record.

Streams are relayed event by event as they arrive. The upstream stream is opened and its
first event read before the response starts, so an engine's refusal (context overflow,
bad parameter) still reaches the client as a proper HTTP error rather than a 200 stream.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ValidationError

from bench import RequestRecorder, RequestStatus
from engines.server import engine_errors
from engines.server.errors import (
    INVALID_REQUEST,
    NOT_FOUND,
    UNAVAILABLE,
    ApiError,
    from_validation_error,
)
from engines.server.metering import Meter
from engines.server.schemas import ChatCompletionRequest, CompletionRequest, EmbeddingRequest
from engines.server.sse import encode_event, event_data, parse_data, split_events
from engines.supervisor import EngineState, ManagedEngine, Supervisor


@dataclass(frozen=True)
class Endpoint:
    path: str
    name: str
    schema: type[BaseModel]
    prompt_param: str
    streams: bool = True


CHAT = Endpoint("/v1/chat/completions", "chat.completions", ChatCompletionRequest, "messages")
COMPLETIONS = Endpoint("/v1/completions", "completions", CompletionRequest, "prompt")
EMBEDDINGS = Endpoint("/v1/embeddings", "embeddings", EmbeddingRequest, "input", streams=False)


def _status_of(error: ApiError) -> RequestStatus:
    if error.code == "engine_crashed" or (error.status >= 500 and error.status != 503):
        return RequestStatus.ENGINE_ERROR
    if error.status == 503:
        return RequestStatus.UNAVAILABLE
    return RequestStatus.CLIENT_ERROR


async def read_json_object(request: Request) -> tuple[bytes, dict[str, Any]]:
    raw = await request.body()
    try:
        body = json.loads(raw)
    except ValueError as error:
        message = f"The request body is not valid JSON ({error})."
        raise ApiError(400, message, INVALID_REQUEST, code="invalid_json") from None
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object.", code="invalid_json")
    return raw, body


class Gateway:
    def __init__(
        self, supervisor: Supervisor, client: httpx.AsyncClient, recorder: RequestRecorder
    ) -> None:
        self.supervisor = supervisor
        self.client = client
        self.recorder = recorder

    def route(self, model: str, endpoint: Endpoint) -> ManagedEngine:
        engine = self.supervisor.find(model)
        if engine is None:
            served = ", ".join(e.name for e in self.supervisor.engines()) or "none"
            message = f"The model '{model}' is not served here. Served models: {served}."
            raise ApiError(404, message, NOT_FOUND, param="model", code="model_not_found")
        if engine.state != EngineState.READY:
            retry = engine.retry_after_s()
            message = f"The model '{model}' is not ready ({engine.state}); retry in {retry} s."
            headers = {"Retry-After": str(retry)}
            raise ApiError(503, message, UNAVAILABLE, code="engine_unavailable", headers=headers)
        if endpoint is EMBEDDINGS and not (engine.spec and engine.spec.supports_embeddings):
            message = f"'{model}' was launched without embeddings; relaunch it with --embeddings."
            raise ApiError(
                400, message, INVALID_REQUEST, param="model", code="embeddings_not_enabled"
            )
        return engine

    async def handle(self, request: Request, endpoint: Endpoint) -> Response:
        meter = Meter(model="", engine="", endpoint=endpoint.name, stream=False)
        try:
            raw, body = await read_json_object(request)
            meter.model = str(body.get("model") or "")
            try:
                parsed = endpoint.schema.model_validate(body)
            except ValidationError as error:
                raise from_validation_error(error) from None
            engine = self.route(parsed.model, endpoint)  # type: ignore[attr-defined]
            meter.engine = engine.request.adapter.engine_id
            meter.stream = endpoint.streams and bool(body.get("stream"))
            if meter.stream:
                return await self._stream(engine, endpoint, body, meter)
            return await self._unary(engine, endpoint, raw, meter)
        except ApiError as error:
            self.recorder.submit(meter.record(_status_of(error), error.status, error.message))
            raise

    async def _unary(
        self, engine: ManagedEngine, endpoint: Endpoint, raw: bytes, meter: Meter
    ) -> Response:
        url = engine.base_url + endpoint.path
        headers = {"Content-Type": "application/json"}
        try:
            upstream = await self.client.post(url, content=raw, headers=headers)
        except httpx.HTTPError as error:
            raise engine_errors.engine_failed(engine, error) from None
        if upstream.status_code >= 400:
            raise engine_errors.from_engine_response(
                engine, upstream.status_code, upstream.content, endpoint.prompt_param
            )
        with contextlib.suppress(ValueError, AttributeError):
            meter.saw_usage(upstream.json().get("usage"))
        self.recorder.submit(meter.record(RequestStatus.OK, upstream.status_code))
        return Response(upstream.content, upstream.status_code, media_type="application/json")

    async def _stream(
        self, engine: ManagedEngine, endpoint: Endpoint, body: dict[str, Any], meter: Meter
    ) -> Response:
        wants_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        body = {
            **body,
            "stream_options": {**(body.get("stream_options") or {}), "include_usage": True},
        }
        await self._check_context(engine, endpoint, body)
        upstream_request = self.client.build_request(
            "POST", engine.base_url + endpoint.path, json=body
        )
        try:
            upstream = await self.client.send(upstream_request, stream=True)
        except httpx.HTTPError as error:
            raise engine_errors.engine_failed(engine, error) from None
        try:
            events = await self._open_events(engine, endpoint, upstream)
        except BaseException:
            await upstream.aclose()
            raise
        relay = self._relay(engine, events, upstream, meter, wants_usage)
        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        return StreamingResponse(relay, media_type="text/event-stream", headers=headers)

    async def _check_context(
        self, engine: ManagedEngine, endpoint: Endpoint, body: dict[str, Any]
    ) -> None:
        """Count prompt tokens first where the runtime would not refuse an over-long stream.

        Chat messages are counted without their template, a slight undercount: what is
        refused here is over the limit for certain."""
        spec = engine.spec
        if spec is None or spec.token_count_path is None:
            return
        try:
            answer = await self.client.post(
                engine.base_url + spec.token_count_path, json={"input": prompt_text(body)}
            )
            count = int(answer.json()["count"])
        except (httpx.HTTPError, ValueError, KeyError, TypeError):
            return
        if count >= spec.context_limit:
            fields = {"n_prompt_tokens": count}
            raise engine_errors.context_overflow(engine, endpoint.prompt_param, fields)

    async def _open_events(
        self, engine: ManagedEngine, endpoint: Endpoint, upstream: httpx.Response
    ) -> AsyncIterator[bytes]:
        """Check the status and the first event; return all events, the first included."""
        if upstream.status_code >= 400:
            content = await upstream.aread()
            raise engine_errors.from_engine_response(
                engine, upstream.status_code, content, endpoint.prompt_param
            )
        events = split_events(upstream.aiter_raw())
        try:
            first = await anext(events)
        except StopAsyncIteration:
            raise engine_errors.empty_stream(engine) from None
        except httpx.HTTPError as error:
            raise engine_errors.engine_failed(engine, error) from None
        payload = parse_data(event_data(first))
        if payload is not None and "error" in payload:
            status = payload["error"].get("code") if isinstance(payload["error"], dict) else None
            status = status if isinstance(status, int) and status >= 400 else 500
            raise engine_errors.from_engine_response(
                engine, status, json.dumps(payload).encode(), endpoint.prompt_param
            )
        return _prepend(first, events)

    async def _relay(
        self,
        engine: ManagedEngine,
        events: AsyncIterator[bytes],
        upstream: httpx.Response,
        meter: Meter,
        wants_usage: bool,
    ) -> AsyncIterator[bytes]:
        status, error_text = RequestStatus.CANCELLED, None
        try:
            async for event in events:
                payload = parse_data(event_data(event))
                if payload is not None:
                    if "error" in payload:
                        status, error_text = RequestStatus.ENGINE_ERROR, str(payload["error"])
                        yield event
                        return
                    meter.saw_chunk(payload)
                    if not wants_usage and not payload.get("choices") and "usage" in payload:
                        continue
                yield event
            status = RequestStatus.OK
        except httpx.HTTPError as error:
            failure = engine_errors.engine_failed(engine, error)
            status, error_text = RequestStatus.ENGINE_ERROR, failure.message
            yield encode_event(failure.body())
        finally:
            await upstream.aclose()
            http_status = 200 if status in (RequestStatus.OK, RequestStatus.CANCELLED) else 502
            self.recorder.submit(meter.record(status, http_status, error_text))


async def _prepend(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    yield first
    async for event in rest:
        yield event


def prompt_text(body: dict[str, Any]) -> str:
    """The text of a chat's messages or a completion's prompt, for counting tokens."""
    if isinstance(body.get("messages"), list):
        parts = []
        for message in body["messages"]:
            content = message.get("content") if isinstance(message, dict) else None
            if isinstance(content, list):
                content = " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
            parts.append(str(content or ""))
        return "\n".join(parts)
    prompt = body.get("prompt")
    return "\n".join(map(str, prompt)) if isinstance(prompt, list) else str(prompt or "")
