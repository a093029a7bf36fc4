"""Property-based fuzzing of every route, generated from the server's own /openapi.json
(schemathesis), against a real server with the real default model.

Every answer must be below 500, and every error OpenAI-shaped (Anthropic-shaped on the
Anthropic routes, /v1/messages*). CI runs a bounded number of
requests; the long run (README.md, "Security") sets HOSTBENCH_FUZZ_EXAMPLES:

    HOSTBENCH_FUZZ_EXAMPLES=600 .venv/bin/python -m pytest -p no:xdist -s \
        tests/integration/test_fuzz.py::test_fuzz_every_route
"""

from __future__ import annotations

import json
import os
from collections import Counter
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode

from tests.servers import DEFAULT_MODEL, ServerProcess

EXAMPLES = int(os.environ.get("HOSTBENCH_FUZZ_EXAMPLES", "40"))
"""Requests per generation mode (schema-valid, then schema-invalid)."""

ENDLESS = ("/api/metrics/stream",)
"""Server-sent events that never end on their own; no fuzzer request would return."""

FORWARDED = (
    "/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/messages",
    "/v1/messages/count_tokens", "/v1/responses", "/v1/rerank", "/tokenize", "/detokenize",
)  # fmt: skip


def check_answer(status: int, content_type: str, text: str, path: str = "") -> None:
    assert status < 500, f"{status}: {text[:500]}"
    if status < 400:
        return
    assert content_type.startswith("application/json"), content_type
    body = json.loads(text)
    if path.startswith("/v1/messages"):
        assert set(body) == {"type", "error"} and body["type"] == "error", body
        error = body["error"]
        assert {"type", "message"} <= set(error) <= {"type", "message", "code"}, error
    else:
        assert set(body) == {"error"}, body
        error = body["error"]
        assert set(error) == {"message", "type", "param", "code"}, error
    assert isinstance(error["message"], str) and error["message"], error
    assert isinstance(error["type"], str), error


def toward_the_model(case: Any, turn: int) -> None:
    """Every other generated body asks the served model, with a short answer, so the
    fuzzer reaches the engine and not only the unknown-model error."""
    body = case.body
    if case.path not in FORWARDED or not isinstance(body, dict) or turn % 2:
        return
    body["model"] = DEFAULT_MODEL
    for field in ("max_tokens", "max_completion_tokens", "max_output_tokens"):
        if not isinstance(body.get(field), int) or body[field] > 8:
            body[field] = 8


def fuzz(server: ServerProcess, mode: GenerationMode, seen: Counter[int]) -> None:
    schema = schemathesis.openapi.from_url(server.base_url + "/openapi.json")
    schema = schema.exclude(path=list(ENDLESS))
    headers = {"Authorization": f"Bearer {server.token}"}

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=EXAMPLES <= 100,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=schema.as_strategy(generation_mode=mode))
    def one(case: Any) -> None:
        toward_the_model(case, sum(seen.values()))
        response = case.call(base_url=server.base_url, headers=headers, timeout=120)
        seen[response.status_code] += 1
        content_type = (response.headers.get("content-type") or [""])[0]
        try:
            check_answer(response.status_code, content_type, response.text, case.path)
        except AssertionError as error:
            raise AssertionError(f"{error}\n{case.as_curl_command()}") from None

    one()


def test_fuzz_every_route(default_server: ServerProcess) -> None:
    seen: Counter[int] = Counter()
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        fuzz(default_server, mode, seen)
    print(f"\nfuzz: {sum(seen.values())} requests, statuses {dict(sorted(seen.items()))}")
    assert sum(seen.values()) >= EXAMPLES
    assert not any(status >= 500 for status in seen)
    assert default_server.proc.poll() is None, "the server died"
    health = httpx.get(default_server.base_url + "/health", timeout=10).json()
    assert health["engines"][DEFAULT_MODEL] == "ready"


def test_the_openai_sdk_still_works_with_defaults(default_server: ServerProcess) -> None:
    """The official SDK sends JSON with the content type the server now insists on."""
    from openai import OpenAI

    sent: list[str] = []

    def note(request: httpx.Request) -> None:
        sent.append(request.headers.get("content-type", ""))

    http = httpx.Client(event_hooks={"request": [note]})
    client = OpenAI(base_url=default_server.openai_url, api_key="unused", http_client=http)
    answer = client.chat.completions.create(
        model=DEFAULT_MODEL, messages=[{"role": "user", "content": "hi"}], max_tokens=4
    )
    assert answer.choices[0].message.content is not None
    streamed = client.chat.completions.create(
        model=DEFAULT_MODEL,
        messages=[{"role": "user", "content": "hi"}],
        max_tokens=4,
        stream=True,
    )
    assert any(chunk.choices for chunk in streamed)
    assert client.completions.create(model=DEFAULT_MODEL, prompt="hi", max_tokens=4).choices
    assert sent and all(kind == "application/json" for kind in sent)


@pytest.mark.parametrize("stream", [False, True])
def test_stream_flag_is_read_as_a_boolean(default_server: ServerProcess, stream: bool) -> None:
    """A real boolean streams exactly when true; the string "false" is a 400, not a stream."""
    body = {"model": DEFAULT_MODEL, "messages": [{"role": "user", "content": "hi"}]}
    url = default_server.openai_url + "/chat/completions"
    answer = httpx.post(url, json={**body, "max_tokens": 4, "stream": stream}, timeout=60)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith(
        "text/event-stream" if stream else "application/json"
    )
    confused = httpx.post(url, json={**body, "stream": str(stream).lower()}, timeout=60)
    assert confused.status_code == 400 and confused.json()["error"]["param"] == "stream"
