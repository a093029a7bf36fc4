"""Mapping what an engine answered, or how it failed, to the gateway's OpenAI errors.

llama-server and llama-cpp-python word context overflow differently; clients get one
shape with the limit in it, so they can shorten the prompt without reading engine logs.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from catalog import DoesNotFitError
from engines.supervisor import ManagedEngine
from serving.errors import INVALID_REQUEST, SERVER, ApiError, api_error_from
from serving.pool import (
    PoolError,
)

log = logging.getLogger("hostbench.server")


CONTEXT_MARKERS = (
    "exceed_context_size_error",
    "exceeds the available context size",
    "context_length_exceeded",
    "maximum context length",
    "exceed context window",
)


WHOLE_INPUT_TOO_LARGE = re.compile(r"input \((\d+) tokens\) is too large to process")
"""llama-server, for an input it must read in one micro-batch (embeddings pooled over every
token, non-causal rerankers) that is longer than `--ubatch-size`."""


def _error_fields(content: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(content)
    except ValueError:
        return {"message": content.decode(errors="replace")[:500]}
    if isinstance(parsed, dict):
        inner = parsed.get("error", parsed)
        if isinstance(inner, dict):
            return inner
        return {"message": str(inner)}
    return {"message": str(parsed)}


def is_context_overflow(fields: dict[str, Any]) -> bool:
    text = f"{fields.get('type', '')} {fields.get('code', '')} {fields.get('message', '')}"
    return any(marker in text for marker in CONTEXT_MARKERS)


def context_overflow(engine: ManagedEngine, prompt_param: str, fields: dict[str, Any]) -> ApiError:
    limit = engine.spec.context_limit if engine.spec else fields.get("n_ctx")
    prompt_tokens = fields.get("n_prompt_tokens")
    has = f", but the request has {prompt_tokens} prompt tokens" if prompt_tokens else ""
    message = (
        f"This model's maximum context length is {limit} tokens{has}. Shorten the "
        f"{prompt_param} or relaunch '{engine.name}' with a larger --ctx-size."
    )
    return ApiError(
        400, message, INVALID_REQUEST, param=prompt_param, code="context_length_exceeded"
    )


def from_engine_response(
    engine: ManagedEngine, status: int, content: bytes, prompt_param: str
) -> ApiError:
    """An engine's own 4xx/5xx, reshaped; context overflow gets the limit spelled out."""
    fields = _error_fields(content)
    if is_context_overflow(fields):
        return context_overflow(engine, prompt_param, fields)
    too_large = WHOLE_INPUT_TOO_LARGE.search(str(fields.get("message") or ""))
    if too_large:
        return whole_input_too_large(engine, prompt_param, int(too_large[1]))
    message = redact_paths(str(fields.get("message") or f"engine answered HTTP {status}"))
    type_ = INVALID_REQUEST if 400 <= status < 500 else SERVER
    code = fields.get("code") if isinstance(fields.get("code"), str) else None
    return ApiError(status, message, type_, param=fields.get("param"), code=code)


def whole_input_too_large(engine: ManagedEngine, prompt_param: str, tokens: int) -> ApiError:
    """An input the engine must read in one micro-batch, longer than its micro-batch."""
    message = (
        f"The {prompt_param} has {tokens} tokens; '{engine.name}' reads each one whole, and "
        f"at most its micro-batch at a time. Shorten the {prompt_param} or relaunch "
        f"'{engine.name}' with --ubatch-size and --batch-size of at least {tokens}."
    )
    return ApiError(400, message, INVALID_REQUEST, param=prompt_param, code="input_too_long")


def engine_failed(
    engine: ManagedEngine, error: BaseException, waited_s: float | None = None
) -> ApiError:
    """The engine failed this request: it crashed, it hung and the watchdog killed it, or
    it was alive but sent nothing within the deadline (`waited_s`)."""
    retry = engine.retry_after_s()
    headers = {"Retry-After": str(retry)}
    log.warning("engine %s failed a request: %r", engine.name, error)
    if engine.hung_for_s is not None:
        message = (
            f"The engine serving '{engine.name}' stopped responding (no answer for "
            f"{engine.hung_for_s:.0f} s) and was killed; hostbench is restarting it. "
            f"Retry in {retry} s."
        )
        return ApiError(502, message, SERVER, code="engine_unresponsive", headers=headers)
    if isinstance(error, TimeoutError):
        return engine_timeout(engine, waited_s)
    message = (
        f"The engine serving '{engine.name}' stopped while handling this request "
        f"({type(error).__name__}); hostbench is restarting it. Retry in {retry} s."
    )
    return ApiError(502, message, SERVER, code="engine_crashed", headers=headers)


def engine_timeout(engine: ManagedEngine, waited_s: float | None) -> ApiError:
    """Alive (it still answers health checks) but too slow for this request."""
    waited = f" for {waited_s:.0f} s" if waited_s is not None else ""
    message = (
        f"The engine serving '{engine.name}' sent nothing{waited}, so this request was "
        "cancelled; the engine is still running. A long prompt on a slow machine may "
        "need more: engines.first_byte_timeout_s and engines.token_timeout_s."
    )
    return ApiError(504, message, SERVER, code="engine_timeout")


def empty_stream(engine: ManagedEngine, how: str = "without an answer") -> ApiError:
    """The engine ended a stream before sending anything (or, `how` says, before the
    answer was complete): it failed without saying why.

    The log's path goes to the server log only: clients of the API get no file paths."""
    log.warning("engine %s ended a stream %s; see %s", engine.name, how, engine.log_path)
    message = (
        f"The engine serving '{engine.name}' ended the stream {how}; its log "
        f"may say why (`hostbench` workbench, or GET /api/engines/{engine.name}/log)."
    )
    return ApiError(502, message, SERVER, code="engine_empty_stream")


_PATH = re.compile(r"(?<![\w.:/~-])(?:~|[A-Za-z]:)?[/\\](?:[^\s/\\'\"(),;]+[/\\])+[^\s'\"(),;]*")


def redact_paths(text: str) -> str:
    """`text` with file-system paths (two levels or more) replaced by `<path>`: core errors
    name files for the CLI user, and the API's clients must not learn the server's layout."""
    return _PATH.sub("<path>", text)


def from_pool_error(error: Exception) -> ApiError:
    """Admission failures as OpenAI errors; waiting helps where Retry-After is sent. Any
    other failure here happened loading the model: a 507 if it does not fit, else a 502
    (the request was fine; the server could not load what it offers)."""
    if isinstance(error, PoolError):
        retry = error.retry_after_s
        headers = {"Retry-After": str(retry)} if retry else {}
        param = "model" if error.http_status == 404 else None
        return api_error_from(error, redact_paths(str(error)), param=param, headers=headers)
    detail = redact_paths(getattr(error, "summary", None) or str(error))
    if isinstance(error, DoesNotFitError):
        return ApiError(507, detail, SERVER, code="insufficient_memory")
    message = f"Loading the model failed: {detail}"
    return ApiError(502, message, SERVER, code="model_load_failed")
