"""Every bad input gets a clear, OpenAI-shaped error with the stated status, and loses nothing."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.servers import DEFAULT_MODEL, ServerProcess

CHAT = "/v1/chat/completions"


def post(server: ServerProcess, path: str, **kwargs: Any) -> httpx.Response:
    return httpx.post(server.base_url + path, timeout=60, **kwargs)


def error_of(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    return dict(body["error"])


def test_malformed_json(server: ServerProcess) -> None:
    response = post(
        server,
        CHAT,
        content=b'{"model": "x", "messages": [',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert error_of(response)["code"] == "invalid_json"


def test_body_must_be_an_object(server: ServerProcess) -> None:
    response = post(server, CHAT, json=[1, 2])
    assert response.status_code == 400 and "JSON object" in error_of(response)["message"]


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        ({"model": DEFAULT_MODEL}, "messages", "missing_required_parameter"),
        ({"messages": [{"role": "user", "content": "hi"}]}, "model", "missing_required_parameter"),
        ({"model": DEFAULT_MODEL, "messages": []}, "messages", "invalid_value"),
        (
            {"model": DEFAULT_MODEL, "messages": [{"role": "wizard", "content": "hi"}]},
            "messages.0.role",
            "invalid_value",
        ),
        (
            {
                "model": DEFAULT_MODEL,
                "messages": [{"role": "user", "content": "hi"}],
                "temperature": 9,
            },
            "temperature",
            "invalid_value",
        ),
        (
            {
                "model": DEFAULT_MODEL,
                "messages": [{"role": "user", "content": "hi"}],
                "max_tokens": -1,
            },
            "max_tokens",
            "invalid_value",
        ),
    ],
)
def test_invalid_fields_are_named(
    server: ServerProcess, body: dict[str, Any], param: str, code: str
) -> None:
    response = post(server, CHAT, json=body)
    assert response.status_code == 400
    error = error_of(response)
    assert (error["param"], error["code"]) == (param, code)
    assert param.split(".", maxsplit=1)[0] in error["message"]


def test_completions_need_a_prompt(server: ServerProcess) -> None:
    response = post(server, "/v1/completions", json={"model": DEFAULT_MODEL})
    assert response.status_code == 400 and error_of(response)["param"] == "prompt"


def test_unknown_model_lists_the_served_ones(server: ServerProcess) -> None:
    response = post(
        server, CHAT, json={"model": "gpt-9", "messages": [{"role": "user", "content": "hi"}]}
    )
    assert response.status_code == 404
    error = error_of(response)
    assert error["code"] == "model_not_found" and DEFAULT_MODEL in error["message"]


def test_unknown_path_is_openai_shaped(server: ServerProcess) -> None:
    response = httpx.get(server.base_url + "/v1/nothing-here", timeout=10)
    assert response.status_code == 404
    error_of(response)


@pytest.mark.parametrize("path", [CHAT, "/v1/completions", "/v1/embeddings"])
def test_forwarded_endpoints_take_only_post(server: ServerProcess, path: str) -> None:
    response = httpx.get(server.base_url + path, timeout=10)
    assert response.status_code == 405 and response.headers["allow"] == "POST"
    assert "POST" in error_of(response)["message"]


@pytest.mark.parametrize("stream", [False, True])
def test_context_overflow_names_the_limit(server: ServerProcess, stream: bool) -> None:
    limit = server.ready["context_limit"]
    long_prompt = "hello world " * (limit * 2)
    response = post(
        server,
        CHAT,
        json={
            "model": DEFAULT_MODEL,
            "stream": stream,
            "messages": [{"role": "user", "content": long_prompt}],
        },
    )
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "context_length_exceeded" and error["param"] == "messages"
    assert f"maximum context length is {limit} tokens" in error["message"]


def test_the_server_still_answers_after_all_that(server: ServerProcess) -> None:
    response = post(
        server,
        CHAT,
        json={
            "model": DEFAULT_MODEL,
            "max_tokens": 4,
            "messages": [{"role": "user", "content": "hi"}],
        },
    )
    assert response.status_code == 200


def test_control_api_needs_the_token(server: ServerProcess) -> None:
    assert httpx.get(server.base_url + "/api/engines", timeout=10).status_code == 401
    wrong = {"Authorization": "Bearer not-the-token"}
    assert httpx.get(server.base_url + "/api/engines", headers=wrong, timeout=10).status_code == 401
    assert server.control("GET", "/api/engines").status_code == 200


def test_control_api_refuses_bad_launches(server: ServerProcess) -> None:
    unknown = server.control("POST", "/api/engines", json={"model": "no-such-model"})
    assert unknown.status_code == 404 and "no-such-model" in error_of(unknown)["message"]
    bad_option = server.control(
        "POST",
        "/api/engines",
        json={"model": DEFAULT_MODEL, "name": "other", "options": {"ctx_size": 1}},
    )
    assert bad_option.status_code == 400 and error_of(bad_option)["param"] == "ctx_size"
    for names, param in (({"name": ""}, "name"), ({"aliases": ["ok", "a\nb"]}, "aliases.1")):
        bad_name = server.control("POST", "/api/engines", json={"model": DEFAULT_MODEL, **names})
        assert bad_name.status_code == 400 and error_of(bad_name)["param"] == param
    taken = server.control("POST", "/api/engines", json={"model": DEFAULT_MODEL})
    assert taken.status_code == 409
    assert server.engine()["state"] == "ready"
