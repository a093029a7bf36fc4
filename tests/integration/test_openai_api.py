"""The local endpoint, through the official openai client, against the real default model."""

from __future__ import annotations

import asyncio
import time

import httpx
import openai
import pytest

from tests.servers import DEFAULT_MODEL, ServerProcess

EOS_SUPPRESSED = {"2": -100}
"""SmolLM2's end-of-turn token, banned so an answer runs to exactly max_tokens."""


@pytest.fixture
def client(server: ServerProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.openai_url, api_key="unused", max_retries=0)


def test_models_lists_the_launched_model(client: openai.OpenAI) -> None:
    models = client.models.list()
    assert [m.id for m in models.data] == [DEFAULT_MODEL]
    assert client.models.retrieve(DEFAULT_MODEL).id == DEFAULT_MODEL


def test_chat_completion(client: openai.OpenAI) -> None:
    answer = client.chat.completions.create(
        model=DEFAULT_MODEL,
        max_tokens=16,
        messages=[{"role": "user", "content": "What is the capital of France?"}],
    )
    assert answer.choices[0].message.content
    assert answer.usage is not None and 0 < answer.usage.completion_tokens <= 16
    assert answer.model == DEFAULT_MODEL


def test_streamed_chat_has_content_and_no_usage_unless_asked(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model=DEFAULT_MODEL,
        max_tokens=12,
        stream=True,
        messages=[{"role": "user", "content": "Count to five."}],
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.strip()
    assert all(c.choices for c in chunks), "the usage-only chunk is not sent unless requested"


def test_streamed_usage_is_reported_or_never_invented(
    server: ServerProcess, client: openai.OpenAI
) -> None:
    stream = client.chat.completions.create(
        model=DEFAULT_MODEL,
        max_tokens=10,
        stream=True,
        logit_bias=EOS_SUPPRESSED,
        stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "Tell me a story."}],
    )
    usage = [c.usage for c in stream if c.usage is not None]
    if server.ready["runtime"] == "llama-server":
        assert usage and usage[-1].completion_tokens == 10
    else:  # llama-cpp-python sends no usage in streams; the gateway does not make one up
        assert usage == []
    newest = server.control("GET", "/api/requests", params={"limit": 1}).json()[0]
    assert newest["completion_tokens"] == 10


def test_completions(client: openai.OpenAI) -> None:
    answer = client.completions.create(
        model=DEFAULT_MODEL, prompt="Once upon a time", max_tokens=8, logit_bias=EOS_SUPPRESSED
    )
    assert answer.choices[0].text
    assert answer.usage is not None and answer.usage.completion_tokens == 8


def test_embeddings_need_the_option(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.embeddings.create(model=DEFAULT_MODEL, input="hello")
    assert caught.value.code == "embeddings_not_enabled"
    assert "--embeddings" in caught.value.message


async def test_four_concurrent_streams_complete(server: ServerProcess) -> None:
    client = openai.AsyncOpenAI(base_url=server.openai_url, api_key="unused", max_retries=0)

    async def one(i: int) -> tuple[str, int]:
        stream = await client.chat.completions.create(
            model=DEFAULT_MODEL,
            max_tokens=24,
            stream=True,
            logit_bias=EOS_SUPPRESSED,
            stream_options={"include_usage": True},
            messages=[{"role": "user", "content": f"Write about the number {i}."}],
        )
        text, chunks, tokens = "", 0, None
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                text += chunk.choices[0].delta.content
                chunks += 1
            if chunk.usage:
                tokens = chunk.usage.completion_tokens
        return text, chunks if tokens is None else tokens  # llama-cpp-python: 1 chunk/token

    results = await asyncio.gather(*(one(i) for i in range(4)))
    assert [tokens for _, tokens in results] == [24, 24, 24, 24]
    assert all(text for text, _ in results)
    await client.close()


def test_requests_are_recorded_in_the_store(server: ServerProcess, client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model=DEFAULT_MODEL, max_tokens=4, stream=True, messages=[{"role": "user", "content": "Hi"}]
    )
    for _ in stream:  # read to the end: a stream closed early is recorded as cancelled
        pass
    answer = client.chat.completions.create(
        model=DEFAULT_MODEL,
        max_tokens=5,
        logit_bias=EOS_SUPPRESSED,
        messages=[{"role": "user", "content": "Hello"}],
    )
    rows = server.control("GET", "/api/requests", params={"limit": 50}).json()
    unary = next(r for r in rows if r["id"] and not r["stream"] and r["completion_tokens"] == 5)
    assert unary["status"] == "ok" and unary["model"] == DEFAULT_MODEL
    assert unary["prompt_tokens"] == answer.usage.prompt_tokens
    assert unary["e2e_ms"] > 0 and unary["engine"] == server.ready["engine"]
    streamed = [r for r in rows if r["stream"] and r["status"] == "ok"]
    assert streamed and all(r["ttft_ms"] <= r["e2e_ms"] for r in streamed)


def test_client_gone_mid_stream_stops_the_engine(server: ServerProcess) -> None:
    body = {
        "model": DEFAULT_MODEL,
        "max_tokens": 3000,
        "stream": True,
        "logit_bias": EOS_SUPPRESSED,
        "messages": [{"role": "user", "content": "Go on."}],
    }
    started = time.time()
    with httpx.stream(
        "POST", server.openai_url + "/chat/completions", json=body, timeout=60
    ) as response:
        lines = response.iter_lines()
        while not next(lines).startswith("data:"):
            pass
    deadline = time.monotonic() + 30
    cancelled: list[dict[str, object]] = []
    while time.monotonic() < deadline and not cancelled:
        rows = server.control("GET", "/api/requests", params={"limit": 5}).json()
        cancelled = [r for r in rows if r["status"] == "cancelled" and r["started_at"] >= started]
        time.sleep(0.1)
    assert cancelled, "the abandoned stream was not recorded as cancelled"
    assert (cancelled[0]["completion_tokens"] or 0) < 3000
    if server.ready["runtime"] == "llama-server":
        assert wait_for_idle_engine(server), "llama-server kept generating for nobody"
    answer = httpx.post(  # the Python server runs one request at a time: it must be free
        server.openai_url + "/chat/completions",
        timeout=60,
        json={
            "model": DEFAULT_MODEL,
            "max_tokens": 4,
            "messages": [{"role": "user", "content": "hi"}],
        },
    )
    assert answer.status_code == 200


def wait_for_idle_engine(server: ServerProcess, timeout_s: float = 30) -> bool:
    """llama-server notices a closed connection at its next write; give it that moment."""
    url = f"http://127.0.0.1:{server.engine()['port']}/metrics"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        metrics = httpx.get(url, headers=server.engine_key, timeout=10).text
        if "llamacpp:requests_processing 0" in metrics:
            return True
        time.sleep(0.1)
    return False


def test_embeddings_when_launched_for_them(server: ServerProcess) -> None:
    launched = server.control(
        "POST",
        "/api/engines",
        json={
            "model": DEFAULT_MODEL,
            "name": "embedder",
            "options": {"embeddings": True, "ctx_size": 1024},
        },
    )
    if server.ready["runtime"] == "llama_cpp.server":
        assert launched.status_code == 400
        assert "cannot pool" in launched.json()["error"]["message"]
        return
    assert launched.status_code == 201, launched.text
    try:
        client = openai.OpenAI(base_url=server.openai_url, api_key="-", max_retries=0)
        result = client.embeddings.create(model="embedder", input=["hello", "the sea"])
        vectors = [item.embedding for item in result.data]
        assert len(vectors) == 2 and len(vectors[0]) == 576, "one 576-wide vector per input"
        assert vectors[0] != vectors[1]
        # The cpu profile's batch of 64 does not apply: each input is read whole.
        longer = " ".join(f"word{i}" for i in range(60))
        result = client.embeddings.create(model="embedder", input=longer)
        assert result.usage.prompt_tokens > 64 and len(result.data[0].embedding) == 576
        too_long = " ".join(f"word{i}" for i in range(200))
        with pytest.raises(openai.BadRequestError) as refused:
            client.embeddings.create(model="embedder", input=too_long)
        error = refused.value.body
        assert isinstance(error, dict) and error["code"] == "input_too_long", error
        assert "--ubatch-size" in error["message"]
    finally:
        server.control("DELETE", "/api/engines/embedder")
