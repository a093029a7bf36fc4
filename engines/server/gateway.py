"""The OpenAI gateway: validate, route by `model`, forward to the engine, measure, record.

Streams are relayed event by event as they arrive. The upstream stream is opened and its
first event read before the response starts, so an engine's refusal (context overflow,
bad parameter) still reaches the client as a proper HTTP error rather than a 200 stream.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from fastapi import Request, Response
from pydantic import BaseModel, ValidationError

from bench import RequestRecorder, RequestStatus
from catalog import CatalogError
from engines.errors import EngineError
from engines.pool import Lease, ModelPool
from engines.server import engine_errors
from engines.server.errors import (
    INVALID_REQUEST,
    UNAVAILABLE,
    ApiError,
    from_validation_error,
)
from engines.server.metering import Meter
from engines.server.relay import RelayResponse
from engines.server.schemas import ChatCompletionRequest, CompletionRequest, EmbeddingRequest
from engines.server.sse import encode_event, event_data, parse_data, split_events
from engines.server.upstream import Upstream, UpstreamFailure
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
        self,
        supervisor: Supervisor,
        upstream: Upstream,
        recorder: RequestRecorder,
        pool: ModelPool,
    ) -> None:
        self.supervisor = supervisor
        self.upstream = upstream
        self.recorder = recorder
        self.pool = pool

    async def admit(self, model: str, endpoint: Endpoint) -> Lease:
        """A slot on the engine serving `model` (started first if it is offered on demand),
        checked ready for `endpoint`; the caller releases it when the answer is done."""
        try:
            lease = await self.pool.admit(model)
        except (EngineError, CatalogError, ValueError) as error:
            raise engine_errors.from_pool_error(error) from None
        try:
            self.route(lease.engine, model, endpoint)
        except BaseException:
            lease.release()
            raise
        return lease

    @staticmethod
    def route(engine: ManagedEngine, model: str, endpoint: Endpoint) -> None:
        """Refuse what `engine` cannot answer now: not ready, or no embeddings."""
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

    async def handle(self, request: Request, endpoint: Endpoint) -> Response:
        meter = Meter(model="", engine="", endpoint=endpoint.name, stream=False)
        try:
            raw, body = await read_json_object(request)
            meter.model = str(body.get("model") or "")
            try:
                parsed = endpoint.schema.model_validate(body)
            except ValidationError as error:
                raise from_validation_error(error) from None
            lease = await self.admit(parsed.model, endpoint)  # type: ignore[attr-defined]
            try:
                engine = lease.engine
                meter.engine = engine.request.adapter.engine_id
                meter.stream = endpoint.streams and bool(body.get("stream"))
                if meter.stream:
                    return await self._stream(engine, endpoint, body, meter, lease)
                return await self._unary(engine, endpoint, raw, meter)
            finally:
                if not meter.stream:
                    lease.release()
        except ApiError as error:
            self.recorder.submit(meter.record(_status_of(error), error.status, error.message))
            raise

    async def _unary(
        self, engine: ManagedEngine, endpoint: Endpoint, raw: bytes, meter: Meter
    ) -> Response:
        try:
            status, content = await self.upstream.post(
                engine.base_url + endpoint.path, raw, _headers(engine)
            )
        except UpstreamFailure as error:
            raise engine_errors.engine_failed(engine, error) from None
        if status >= 400:
            raise engine_errors.from_engine_response(engine, status, content, endpoint.prompt_param)
        with contextlib.suppress(ValueError, AttributeError):
            meter.saw_usage(json.loads(content).get("usage"))
        self.recorder.submit(meter.record(RequestStatus.OK, status))
        return Response(content, status, media_type="application/json")

    async def _stream(
        self,
        engine: ManagedEngine,
        endpoint: Endpoint,
        body: dict[str, Any],
        meter: Meter,
        lease: Lease,
    ) -> RelayResponse:
        """The lease is released when the relay ends, or here if it never starts."""
        try:
            return await self._open_stream(engine, endpoint, body, meter, lease)
        except BaseException:
            lease.release()
            raise

    async def _open_stream(
        self,
        engine: ManagedEngine,
        endpoint: Endpoint,
        body: dict[str, Any],
        meter: Meter,
        lease: Lease,
    ) -> RelayResponse:
        options = body.get("stream_options") or {}
        wants_usage = bool(options.get("include_usage"))
        body = {**body, "stream_options": {**options, "include_usage": True}}
        await self._check_context(engine, endpoint, body)
        try:
            upstream = await self.upstream.open(
                engine.base_url + endpoint.path, json.dumps(body).encode(), _headers(engine)
            )
        except UpstreamFailure as error:
            raise engine_errors.engine_failed(engine, error) from None
        try:
            reads = await self._open_events(engine, endpoint, upstream)
        except BaseException:
            upstream.close()
            raise
        relay = self._relay(engine, reads, upstream, meter, wants_usage)
        return RelayResponse(relay, on_close=lease.release)

    async def _check_context(
        self, engine: ManagedEngine, endpoint: Endpoint, body: dict[str, Any]
    ) -> None:
        """Count prompt tokens first where the runtime would not refuse an over-long stream.

        Chat messages are counted without their template, a slight undercount: what is
        refused here is over the limit for certain."""
        spec = engine.spec
        if spec is None or spec.token_count_path is None:
            return
        query = json.dumps({"input": prompt_text(body)}).encode()
        try:
            _, answer = await self.upstream.post(
                engine.base_url + spec.token_count_path, query, _headers(engine)
            )
            count = int(json.loads(answer)["count"])
        except (*UpstreamFailure, ValueError, KeyError, TypeError):
            return
        if count >= spec.context_limit:
            fields = {"n_prompt_tokens": count}
            raise engine_errors.context_overflow(engine, endpoint.prompt_param, fields)

    async def _open_events(
        self, engine: ManagedEngine, endpoint: Endpoint, upstream: aiohttp.ClientResponse
    ) -> AsyncIterator[list[bytes]]:
        """Check the status and the first event; return every read's events, the first
        read included."""
        if upstream.status >= 400:
            content = await upstream.read()
            raise engine_errors.from_engine_response(
                engine, upstream.status, content, endpoint.prompt_param
            )
        reads = split_events(upstream.content.iter_any())
        try:
            first = await anext(reads)
        except StopAsyncIteration:
            raise engine_errors.empty_stream(engine) from None
        except UpstreamFailure as error:
            raise engine_errors.engine_failed(engine, error) from None
        payload = parse_data(event_data(first[0]))
        if payload is not None and "error" in payload:
            status = payload["error"].get("code") if isinstance(payload["error"], dict) else None
            status = status if isinstance(status, int) and status >= 400 else 500
            raise engine_errors.from_engine_response(
                engine, status, json.dumps(payload).encode(), endpoint.prompt_param
            )
        return _prepend(first, reads)

    async def _relay(
        self,
        engine: ManagedEngine,
        reads: AsyncIterator[list[bytes]],
        upstream: aiohttp.ClientResponse,
        meter: Meter,
        wants_usage: bool,
    ) -> AsyncGenerator[bytes, None]:
        """Forward what each upstream read completed in one write, noting the timings."""
        status, error_text = RequestStatus.CANCELLED, None
        try:
            async for events in reads:
                kept, error_text = _inspect(events, meter, wants_usage)
                if kept:
                    yield kept
                if error_text is not None:
                    status = RequestStatus.ENGINE_ERROR
                    return
            status = RequestStatus.OK
        except UpstreamFailure as error:
            failure = engine_errors.engine_failed(engine, error)
            status, error_text = RequestStatus.ENGINE_ERROR, failure.message
            yield encode_event(failure.body())
        finally:
            _finish(upstream, status)
            http_status = 200 if status in (RequestStatus.OK, RequestStatus.CANCELLED) else 502
            self.recorder.submit(meter.record(status, http_status, error_text))


def _headers(engine: ManagedEngine) -> Mapping[str, str] | None:
    """The engine's own API key, where it has one."""
    return engine.spec.upstream_headers if engine.spec and engine.spec.upstream_headers else None


def _inspect(events: list[bytes], meter: Meter, wants_usage: bool) -> tuple[bytes, str | None]:
    """The events to forward, and the engine's error if one of them is an error event.

    The usage-only chunk is dropped unless the client asked for it: hostbench always asks
    the engine for usage, to record token counts."""
    kept = []
    for event in events:
        payload = parse_data(event_data(event))
        if payload is not None:
            if "error" in payload:
                kept.append(event)
                return b"".join(kept), str(payload["error"])
            meter.saw_chunk(payload)
            if not wants_usage and not payload.get("choices") and "usage" in payload:
                continue
        kept.append(event)
    return b"".join(kept), None


def _finish(upstream: aiohttp.ClientResponse, status: RequestStatus) -> None:
    """A complete answer frees its connection for reuse; anything else closes it, which
    tells the engine to stop generating."""
    if status == RequestStatus.OK:
        upstream.release()
    else:
        upstream.close()


async def _prepend(
    first: list[bytes], rest: AsyncIterator[list[bytes]]
) -> AsyncIterator[list[bytes]]:
    yield first
    async for events in rest:
        yield events


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
