"""Non-streamed answers on llama-server are asked of it as streams and put together by
the gateway (serving/assemble.py). Each API's assembled answer is compared with
what llama-server itself answers to the same greedy request sent to it directly."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.servers import DEFAULT_MODEL, ServerProcess

pytestmark = pytest.mark.integration

HI = [{"role": "user", "content": "Say hi to the team."}]
VOLATILE = {"id", "created", "created_at", "completed_at", "timings", "usage"}
"""Differ between two runs of one request (ids, clocks, and cached-token counts)."""


def _both(server: ServerProcess, path: str, body: dict[str, Any]) -> tuple[Any, Any]:
    """(through the gateway, from the engine directly) for one request."""
    engine_url = f"http://127.0.0.1:{server.engine()['port']}"
    answers = []
    for base, headers in ((server.base_url, {}), (engine_url, server.engine_key)):
        response = httpx.post(base + path, json=body, headers=headers, timeout=120)
        assert response.status_code == 200, response.text
        answers.append(response.json())
    return answers[0], answers[1]


def _without(answer: Any, keys: set[str]) -> Any:
    """`answer` with `keys` left out at every level."""
    if isinstance(answer, dict):
        return {k: _without(v, keys) for k, v in answer.items() if k not in keys}
    if isinstance(answer, list):
        return [_without(v, keys) for v in answer]
    return answer


def _counts(usage: dict[str, Any]) -> tuple[int, int]:
    """(prompt tokens, completion tokens) whatever the API calls them; Anthropic reports
    the cached part of the prompt beside `input_tokens`."""
    prompt = usage.get("prompt_tokens", usage.get("input_tokens", 0))
    prompt += usage.get("cache_read_input_tokens") or 0
    return prompt, usage.get("completion_tokens", usage.get("output_tokens", 0))


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/chat/completions", {"messages": HI, "max_tokens": 12}),
        ("/v1/chat/completions", {"messages": HI, "max_tokens": 6, "logprobs": True,
                                  "top_logprobs": 2}),
        ("/v1/completions", {"prompt": "The team met to", "max_tokens": 10}),
        ("/v1/completions", {"prompt": "Once", "max_tokens": 5, "logprobs": 2}),
        ("/v1/messages", {"messages": HI, "max_tokens": 12}),
        ("/v1/responses", {"input": "Say hi to the team.", "max_output_tokens": 12}),
    ],
    ids=["chat", "chat-logprobs", "completions", "completions-logprobs", "messages", "responses"],
)  # fmt: skip
def test_an_assembled_answer_is_the_engines_own(
    default_server: ServerProcess, path: str, body: dict[str, Any]
) -> None:
    request = {"model": DEFAULT_MODEL, "temperature": 0, **body}
    assembled, own = _both(default_server, path, request)
    assert _without(assembled, VOLATILE) == _without(own, VOLATILE)
    assert assembled.keys() == own.keys()
    assert _counts(assembled["usage"]) == _counts(own["usage"])
    assert assembled["usage"].keys() == own["usage"].keys()


def test_a_whole_answer_is_recorded_with_its_tokens(default_server: ServerProcess) -> None:
    body = {"model": DEFAULT_MODEL, "messages": HI, "max_tokens": 5}
    answer = httpx.post(default_server.openai_url + "/chat/completions", json=body, timeout=120)
    usage = answer.json()["usage"]
    rows = default_server.control("GET", "/api/requests", params={"limit": 1}).json()
    assert rows[0]["endpoint"] == "chat.completions" and not rows[0]["stream"]
    assert rows[0]["status"] == "ok"
    assert rows[0]["completion_tokens"] == usage["completion_tokens"]
    assert rows[0]["prompt_tokens"] == usage["prompt_tokens"]


def test_an_engine_refusal_keeps_its_status(default_server: ServerProcess) -> None:
    """A prompt longer than the context is refused before any stream starts: the client
    gets the engine's 400, as it would from a non-streamed request."""
    body = {"model": DEFAULT_MODEL, "max_tokens": 4, "prompt": "word " * 40_000}
    answer = httpx.post(default_server.openai_url + "/completions", json=body, timeout=120)
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "context_length_exceeded"
