"""Many models behind one endpoint, with real engines: two llama.cpp engines (the default
model and a Q8_0 copy quantized from it) under a memory budget that holds only one."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.servers import DEFAULT_MODEL, ServerProcess, run_cli

SMALL_OPTIONS = {"ctx_size": 1024, "parallel": 2}
"""Small engines: each is estimated at 0.14 to 0.19 GiB on the CPU (the cpu profile's
micro-batch of 64 keeps their compute buffers small)."""
BUDGET_GIB = 0.25
"""Holds one of the two engines, never both."""


@pytest.fixture(scope="module")
def model_files(session_home: Path) -> dict[str, str]:
    """The default model's file and a Q8_0 copy of it, made with `hostbench quantize`."""
    done = run_cli(session_home, "quantize", DEFAULT_MODEL, "--to", "Q8_0", "--allow-requantize")
    assert done.returncode == 0, done.stderr
    listed = json.loads(run_cli(session_home, "models", "--json").stdout)
    paths = {m["quant"]: m["path"] for m in listed}
    return {"base": paths["Q4_1"], "q8": paths["Q8_0"]}


def pool_env(models: list[dict[str, Any]], **pool: object) -> dict[str, str]:
    env = {"HOSTBENCH_POOL__MODELS": json.dumps(models)}
    env.update({f"HOSTBENCH_POOL__{k.upper()}": str(v) for k, v in pool.items()})
    return env


def start_server(home: Path, env: dict[str, str]) -> ServerProcess:
    server = ServerProcess(home, args=(), env=env, command="serve")
    server.wait_ready()
    return server


def chat(
    server: ServerProcess, model: str, max_tokens: int = 4, timeout_s: float = 240
) -> httpx.Response:
    body = {
        "model": model,
        "max_tokens": max_tokens,
        "messages": [{"role": "user", "content": "Hi"}],
    }
    return httpx.post(server.openai_url + "/chat/completions", json=body, timeout=timeout_s)


@pytest.fixture(scope="module")
def budget_server(
    tmp_path_factory: pytest.TempPathFactory, model_files: dict[str, str]
) -> Iterator[ServerProcess]:
    home = tmp_path_factory.mktemp("pool-home")
    models = [
        {"name": "base", "model": model_files["base"], "options": SMALL_OPTIONS},
        {"name": "quant", "model": model_files["q8"], "aliases": ["q8"], "options": SMALL_OPTIONS},
    ]
    server = start_server(home, pool_env(models, memory_budget_gib=BUDGET_GIB))
    try:
        yield server
    finally:
        server.terminate()


def loaded(server: ServerProcess) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in server.control("GET", "/api/engines").json()}


def test_second_model_evicts_the_first_and_both_answer(budget_server: ServerProcess) -> None:
    assert loaded(budget_server) == {}, "nothing loads before it is asked for"
    listed = httpx.get(budget_server.openai_url + "/models", timeout=30).json()["data"]
    assert {(m["id"], m["state"]) for m in listed} == {("base", "offered"), ("quant", "offered")}
    first = chat(budget_server, "base")
    assert first.status_code == 200, first.text
    assert set(loaded(budget_server)) == {"base"}
    base_bytes = loaded(budget_server)["base"]["memory_bytes"]

    second = chat(budget_server, "q8")  # by alias
    assert second.status_code == 200, second.text
    engines = loaded(budget_server)
    assert set(engines) == {"quant"}, "the budget holds one engine: the first was evicted"
    assert engines["quant"]["on_demand"] is True
    budget = BUDGET_GIB * 2**30
    assert max(base_bytes, engines["quant"]["memory_bytes"]) <= budget
    assert base_bytes + engines["quant"]["memory_bytes"] > budget

    again = chat(budget_server, "base")
    assert again.status_code == 200, again.text
    pool = budget_server.control("GET", "/api/pool").json()
    evicted = [h for h in pool["history"] if h["event"] == "evicted"]
    assert [h["name"] for h in evicted] == ["base", "quant"]
    assert "make room for 'quant'" in evicted[0]["reason"]
    assert pool["used_bytes"] <= pool["budget_bytes"]


def test_ps_shows_what_is_loaded_and_why_something_went(
    budget_server: ServerProcess, session_home: Path
) -> None:
    assert chat(budget_server, "base").status_code == 200
    shown = run_cli(budget_server.home, "ps", "--port", str(budget_server.port))
    assert shown.returncode == 0, shown.stderr
    assert "on demand" in shown.stdout and "evicted" in shown.stdout
    assert f"of {BUDGET_GIB * 1024:.1f} MiB" in shown.stdout


def test_unknown_model_is_404_listing_what_is_offered(budget_server: ServerProcess) -> None:
    answer = chat(budget_server, "nope")
    assert answer.status_code == 404
    assert "base" in answer.json()["error"]["message"]
    assert "quant" in answer.json()["error"]["message"]


@pytest.fixture(scope="module")
def queue_server(
    tmp_path_factory: pytest.TempPathFactory, model_files: dict[str, str]
) -> Iterator[ServerProcess]:
    home = tmp_path_factory.mktemp("queue-home")
    models = [{"name": "base", "model": model_files["base"], "options": SMALL_OPTIONS}]
    # the queued request waits for a whole stream: on a CI machine whose cores other
    # engines keep busy a 64-token stream has taken more than the default 120 s
    env = pool_env(models, max_concurrent=1, max_queue=1, idle_ttl_s=3, queue_timeout_s=600)
    server = start_server(home, env)
    try:
        yield server
    finally:
        server.terminate()


def status_and_text(answer: httpx.Response) -> tuple[int, str]:
    return answer.status_code, answer.text


def wait_for(check: Any, timeout_s: float = 120) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise TimeoutError("condition not reached")


@pytest.mark.timeout(900)  # the queue wait below, and the stream before it
def test_queue_overflow_is_429_and_queued_requests_finish(queue_server: ServerProcess) -> None:
    assert chat(queue_server, "base").status_code == 200  # loaded, so the queue is the test
    body = {
        "model": "base",
        "max_tokens": 64,
        "stream": True,
        "logit_bias": {"2": -100},
        "messages": [{"role": "user", "content": "Tell me a story."}],
    }
    results: list[tuple[int, str]] = []
    began = time.monotonic()
    with httpx.stream(
        "POST", queue_server.openai_url + "/chat/completions", json=body, timeout=240
    ) as running:
        assert running.status_code == 200
        lines = running.iter_lines()
        while not next(lines).startswith("data:"):
            pass
        queued = threading.Thread(
            target=lambda: results.append(
                status_and_text(chat(queue_server, "base", timeout_s=660))
            )
        )
        queued.start()
        wait_for(lambda: loaded(queue_server)["base"]["queued"] == 1)
        refused = chat(queue_server, "base")
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "model_queue_full"
        assert int(refused.headers["Retry-After"]) >= 1
        for _ in lines:
            pass
    streamed_s = time.monotonic() - began
    queued.join(660)
    engines = queue_server.control("GET", "/api/engines").json()
    ran = [code for code, _ in results]
    took = f"(the stream took {streamed_s:.1f} s)"
    assert ran == [200], (
        f"the queued request ran once the slot was free {took}: {results} {engines}"
    )


def test_idle_engine_unloads_after_its_ttl(queue_server: ServerProcess) -> None:
    assert chat(queue_server, "base").status_code == 200
    wait_for(lambda: loaded(queue_server) == {}, timeout_s=60)
    history = queue_server.control("GET", "/api/pool").json()["history"]
    assert history[-1]["event"] == "unloaded" and "idle" in history[-1]["reason"]
    assert chat(queue_server, "base").status_code == 200, "it loads again on the next request"


def test_an_engine_still_loading_is_not_unloaded_as_idle(
    tmp_path_factory: pytest.TempPathFactory, model_files: dict[str, str]
) -> None:
    """A TTL shorter than the load: the idle clock starts when the engine is ready, so the
    request that asked for it is answered (on a busy machine a 3 s TTL met a 4 s load)."""
    home = tmp_path_factory.mktemp("short-ttl-home")
    models = [{"name": "base", "model": model_files["base"], "options": SMALL_OPTIONS}]
    server = start_server(home, pool_env(models, idle_ttl_s=0.01))
    try:
        answer = chat(server, "base")
        assert answer.status_code == 200, answer.text
        history = server.control("GET", "/api/pool").json()["history"]
        assert [h["event"] for h in history][:1] == ["loaded"], history
    finally:
        server.terminate()
