"""The OpenAI gateway: validate, route by `model`, forward to the engine, measure, record.

Streams are relayed event by event as they arrive. The upstream stream is opened and its
first event read before the response starts, so an engine's refusal (context overflow,
bad parameter) still reaches the client as a proper HTTP error rather than a 200 stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncGenerator, Awaitable, Mapping
from typing import Any, TypeVar

from fastapi import Request, Response
from pydantic import ValidationError

from bench import RequestRecorder
from bench.sse import event_data, parse_data
from catalog import CatalogError
from engines.errors import EngineError
from engines.http_client import ENGINE_HTTP_FAILURES, EngineClient, EngineResponse
from engines.supervisor import EngineState, ManagedEngine, Supervisor
from serving import engine_errors
from serving.assemble import IncompleteStream
from serving.bodies import load_json_object
from serving.endpoints import EMBEDDINGS, Endpoint, check_body, check_served
from serving.errors import (
    INVALID_REQUEST,
    UNAVAILABLE,
    ApiError,
    from_validation_error,
)
from serving.metering import Meter
from serving.pool import Lease, ModelPool
from serving.relay import RelayResponse
from serving.upstream import EventReads
from storage import RequestStatus

T = TypeVar("T")


WENT_AWAY = "client went away while its model was starting"


def _status_of(error: ApiError) -> RequestStatus:
    if error.code == "engine_crashed" or (error.status >= 500 and error.status != 503):
        return RequestStatus.ENGINE_ERROR
    if error.status == 503:
        return RequestStatus.UNAVAILABLE
    return RequestStatus.CLIENT_ERROR


class Gateway:
    def __init__(
        self,
        supervisor: Supervisor,
        upstream: EngineClient,
        recorder: RequestRecorder,
        pool: ModelPool,
        max_json_depth: int = 64,
    ) -> None:
        self.supervisor = supervisor
        self.upstream = upstream
        self.recorder = recorder
        self.pool = pool
        self.max_json_depth = max_json_depth

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

    async def _admit_while_here(
        self, request: Request, model: str, endpoint: Endpoint
    ) -> Lease | None:
        """`admit`, or None if the client leaves while its model is being launched, woken or
        loaded (the wait ends; the launch goes on). A model already up skips the watch."""
        if not self.pool.waits_for(model):
            return await self.admit(model, endpoint)
        return await _unless_disconnected(request, self.admit(model, endpoint))

    @staticmethod
    def route(engine: ManagedEngine, model: str, endpoint: Endpoint) -> None:
        """Refuse what `engine` cannot answer now: not ready, no embeddings, or an API it
        does not serve."""
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
        check_served(engine, model, endpoint)

    async def handle(self, request: Request, endpoint: Endpoint) -> Response:
        meter = endpoint.meter(model="", engine="", endpoint=endpoint.name, stream=False)
        try:
            raw = await request.body()
            body = load_json_object(raw, self.max_json_depth)
            meter.model = str(body.get("model") or "")
            try:
                parsed = endpoint.schema.model_validate(body, strict=True)
            except ValidationError as error:
                raise from_validation_error(error) from None
            lease = await self._admit_while_here(request, parsed.model, endpoint)  # type: ignore[attr-defined]
            if lease is None:  # the client left while its model was starting
                self.recorder.submit(meter.record(RequestStatus.CANCELLED, 499, WENT_AWAY))
                return Response(status_code=499)
            try:
                engine = lease.engine
                meter.engine = engine.request.adapter.engine_id
                check_body(engine, endpoint, parsed)
                meter.stream = endpoint.streams and getattr(parsed, "stream", None) is True
                if meter.stream:
                    return await self._stream(engine, endpoint, body, meter, lease)
                if endpoint.assembler and engine.spec and engine.spec.whole_answers_streamed:
                    return await self._assembled(request, engine, endpoint, body, meter)
                return await self._unary(request, engine, endpoint, raw, meter)
            finally:
                if not meter.stream:
                    lease.release()
        except ApiError as error:
            self.recorder.submit(meter.record(_status_of(error), error.status, error.message))
            raise

    async def _unary(
        self,
        request: Request,
        engine: ManagedEngine,
        endpoint: Endpoint,
        raw: bytes,
        meter: Meter,
    ) -> Response:
        deadline = self.supervisor.settings.first_byte_timeout_s
        post = self.upstream.post(engine.base_url + endpoint.path, raw, _headers(engine), deadline)
        try:
            answer = await _unless_disconnected(request, post)
        except ENGINE_HTTP_FAILURES as error:
            raise engine_errors.engine_failed(engine, error, deadline) from None
        if answer is None:  # the client left: the engine was told to stop
            self.recorder.submit(meter.record(RequestStatus.CANCELLED, 499, "client went away"))
            return Response(status_code=499)
        status, content = answer
        if status >= 400:
            raise engine_errors.from_engine_response(engine, status, content, endpoint.prompt_param)
        with contextlib.suppress(ValueError, AttributeError):
            meter.saw_usage(json.loads(content).get("usage"))
        engine.answered()
        self.recorder.submit(meter.record(RequestStatus.OK, status))
        return Response(content, status, media_type="application/json")

    async def _assembled(
        self,
        request: Request,
        engine: ManagedEngine,
        endpoint: Endpoint,
        body: dict[str, Any],
        meter: Meter,
    ) -> Response:
        """A whole answer asked of the engine as a stream (LaunchSpec.whole_answers_streamed)
        and put together here; the client leaving closes the stream, which stops the engine."""
        streamed, _ = _asking_usage(endpoint, {**body, "stream": True})
        answer = await _unless_disconnected(
            request, self._collect(engine, endpoint, streamed, meter)
        )
        if answer is None:
            self.recorder.submit(meter.record(RequestStatus.CANCELLED, 499, "client went away"))
            return Response(status_code=499)
        engine.answered()
        self.recorder.submit(meter.record(RequestStatus.OK, 200))
        return Response(json.dumps(answer).encode(), 200, media_type="application/json")

    async def _collect(
        self, engine: ManagedEngine, endpoint: Endpoint, body: dict[str, Any], meter: Meter
    ) -> dict[str, Any]:
        """Read the engine's stream for `body` to its end; the answer it adds up to.

        Like a whole answer asked for whole, it must be in by `first_byte_timeout_s`."""
        assert endpoint.assembler is not None
        assembler = endpoint.assembler()
        settings = self.supervisor.settings
        whole = asyncio.timeout(settings.first_byte_timeout_s)
        reads, events = await self._open_reads(engine, endpoint, body)
        try:
            async with whole:
                while events:
                    for payload in filter(None, (parse_data(event_data(e)) for e in events)):
                        _raise_engine_error(engine, endpoint, payload)
                        meter.saw_chunk(payload)
                        assembler.add(payload)
                    events = await reads.next()
            answer = assembler.answer()
        except IncompleteStream:
            reads.close()
            raise engine_errors.empty_stream(engine, "before the answer was complete") from None
        except ENGINE_HTTP_FAILURES as error:  # TimeoutError among them
            reads.close()
            if whole.expired():
                raise engine_errors.engine_timeout(engine, settings.first_byte_timeout_s) from None
            raise engine_errors.engine_failed(engine, error, settings.token_timeout_s) from None
        except BaseException:
            reads.close()
            raise
        reads.close(keep=True)
        return answer

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
        body, wants_usage = _asking_usage(endpoint, body)
        await self._check_context(engine, endpoint, body)
        reads, first = await self._open_reads(engine, endpoint, body)
        relay = self._relay(engine, reads, first, meter, wants_usage)

        def on_close() -> None:
            reads.close()  # a relay that never started (the client left at once) ends here
            lease.release()

        return RelayResponse(relay, on_close=on_close)

    async def _open_reads(
        self, engine: ManagedEngine, endpoint: Endpoint, body: dict[str, Any]
    ) -> tuple[EventReads, list[bytes]]:
        """Send `body` as a stream; its reads and the first read's events once they are in
        (an engine's refusal raised as the error it stands for)."""
        first_byte = self.supervisor.settings.first_byte_timeout_s
        by = asyncio.get_running_loop().time() + first_byte
        url, sent = engine.base_url + endpoint.path, json.dumps(body).encode()
        try:
            upstream = await self.upstream.open(url, sent, _headers(engine), first_byte)
        except ENGINE_HTTP_FAILURES as error:
            raise engine_errors.engine_failed(engine, error, first_byte) from None
        try:
            return await self._open_events(engine, endpoint, upstream, by)
        except BaseException:
            upstream.close()
            raise

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
                engine.base_url + spec.token_count_path,
                query,
                _headers(engine),
                self.supervisor.settings.first_byte_timeout_s,
            )
            count = int(json.loads(answer)["count"])
        except (*ENGINE_HTTP_FAILURES, ValueError, KeyError, TypeError):
            return
        if count >= spec.context_limit:
            fields = {"n_prompt_tokens": count}
            raise engine_errors.context_overflow(engine, endpoint.prompt_param, fields)

    async def _open_events(
        self,
        engine: ManagedEngine,
        endpoint: Endpoint,
        upstream: EngineResponse,
        first_byte_by: float,
    ) -> tuple[EventReads, list[bytes]]:
        """Check the status and the first event (due by `first_byte_by`, loop time);
        return the reads and the first read's events."""
        if upstream.status >= 400:
            content = await upstream.read()
            raise engine_errors.from_engine_response(
                engine, upstream.status, content, endpoint.prompt_param
            )
        settings = self.supervisor.settings
        first_byte = settings.first_byte_timeout_s
        left = max(0.0, first_byte_by - asyncio.get_running_loop().time())
        reads = EventReads(upstream, left, settings.token_timeout_s)
        try:
            first = await reads.next()
            if not first:
                raise engine_errors.empty_stream(engine)
            payload = parse_data(event_data(first[0]))
            if payload is not None:
                _raise_engine_error(engine, endpoint, payload)
        except ENGINE_HTTP_FAILURES as error:
            reads.close()
            raise engine_errors.engine_failed(engine, error, first_byte) from None
        except BaseException:
            reads.close()
            raise
        return reads, first

    async def _relay(
        self,
        engine: ManagedEngine,
        reads: EventReads,
        events: list[bytes],
        meter: Meter,
        wants_usage: bool,
    ) -> AsyncGenerator[bytes, None]:
        """Forward what each upstream read completed in one write, noting the timings;
        `events` are the first read's."""
        status, error_text = RequestStatus.CANCELLED, None
        try:
            while events:
                kept, error_text = _inspect(events, meter, wants_usage)
                if kept:
                    yield kept
                if error_text is not None:
                    status = RequestStatus.ENGINE_ERROR
                    return
                events = await reads.next()
            status = RequestStatus.OK
            engine.answered()
        except ENGINE_HTTP_FAILURES as error:
            waited = self.supervisor.settings.token_timeout_s
            failure = engine_errors.engine_failed(engine, error, waited)
            status, error_text = RequestStatus.ENGINE_ERROR, failure.message
            yield meter.error_event(failure)
        finally:
            reads.close(keep=status == RequestStatus.OK)
            http_status = 200 if status in (RequestStatus.OK, RequestStatus.CANCELLED) else 502
            self.recorder.submit(meter.record(status, http_status, error_text))


async def _unless_disconnected(request: Request, work: Awaitable[T]) -> T | None:
    """`work`'s result, or None as soon as the client disconnects (`work` is cancelled
    then: for an upstream request that closes the engine's connection, and the engine
    stops generating for nobody)."""
    task = asyncio.ensure_future(work)
    gone = asyncio.ensure_future(_disconnect(request))
    try:
        await asyncio.wait((task, gone), return_when=asyncio.FIRST_COMPLETED)
    finally:
        gone.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    if task.cancelled():
        return None
    return task.result()


async def _disconnect(request: Request) -> None:
    """Return once the client has gone (the body is already read)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


def _raise_engine_error(engine: ManagedEngine, endpoint: Endpoint, payload: dict[str, Any]) -> None:
    """An engine's error event as the HTTP error it stands for (its `code` where that is
    an HTTP status, else 500)."""
    if "error" not in payload:
        return
    status = payload["error"].get("code") if isinstance(payload["error"], dict) else None
    status = status if isinstance(status, int) and status >= 400 else 500
    raise engine_errors.from_engine_response(
        engine, status, json.dumps(payload).encode(), endpoint.prompt_param
    )


def _asking_usage(endpoint: Endpoint, body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """The body asking for usage where the API takes OpenAI's `stream_options` (the others
    always send it), and whether the client asked for it itself."""
    if not endpoint.asks_usage:
        return body, True
    options = body.get("stream_options") or {}
    wants_usage = bool(options.get("include_usage"))
    return {**body, "stream_options": {**options, "include_usage": True}}, wants_usage


def _headers(engine: ManagedEngine) -> Mapping[str, str] | None:
    """The engine's own API key, where it has one."""
    return engine.spec.upstream_headers if engine.spec and engine.spec.upstream_headers else None


def _inspect(events: list[bytes], meter: Meter, wants_usage: bool) -> tuple[bytes, str | None]:
    """The events to forward, and the engine's error if one of them is an error event.

    The usage-only chunk is dropped unless the client asked for it: hostbench always asks
    the engine for usage, to record token counts."""
    kept = []
    for event in events:
        data = event_data(event)
        payload = None if data is None or meter.saw_quickly(data) else parse_data(data)
        if payload is not None:
            if "error" in payload:
                kept.append(event)
                return b"".join(kept), str(payload["error"])
            meter.saw_chunk(payload)
            if not wants_usage and not payload.get("choices") and "usage" in payload:
                continue
        kept.append(event)
    return b"".join(kept), None


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
