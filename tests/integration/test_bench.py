"""Benchmarks and live metrics against the real server with the real default model."""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest
from httpx_sse import EventSource
from prometheus_client.parser import text_string_to_metric_families

from app.cli import main
from bench.gateway_cpu import gateway_cpu, process_cpu
from bench.loadgen import StreamSample, stream_chat, unary_chat
from bench.overhead import CLIENT_TIMEOUT, aggregate_throughput
from bench.prompts import LlamaCppTokenizer, synthetic_prompts
from bench.runs import BenchRuns
from bench.session import BenchPlan, run_sweep_blocking
from control.api import EngineStatus
from control.client import ControlClient
from errors import ExitCode
from profiles import Locations, Settings
from storage import Store
from tests.servers import DEFAULT_MODEL, ServerProcess
from workflows.bench_context import local_target


@pytest.fixture
def in_home(session_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """CLI calls in this process use the session's hostbench home (and its server token)."""
    monkeypatch.setenv("HOSTBENCH_HOME", str(session_home))
    return session_home


def gateway_records(server: ServerProcess, count: int) -> list[dict[str, Any]]:
    rows = server.control("GET", "/api/requests", params={"limit": count}).json()
    return [r for r in rows if r["status"] == "ok"]


def test_bench_run_counts_tokens_and_stores_the_full_context(
    server: ServerProcess, in_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "bench",
        "--port",
        str(server.port),
        "--concurrency",
        "1,2",
        "--num-prompts",
        "4",
        "--input-len",
        "16",
        "--output-len",
        "8",
        "--json",
    ]
    assert main(argv) == ExitCode.OK
    runs = json.loads(capsys.readouterr().out)
    assert [r["concurrency"] for r in runs] == [1, 2]
    stored = BenchRuns(Store(in_home / "data" / "hostbench.sqlite"))
    for shown in runs:
        run = stored.get(shown["id"])
        m = run.metrics
        assert (m.completed, m.failed) == (4, 0)
        assert m.total_output_tokens == sum(s.output_tokens for s in run.samples) == 4 * 8
        assert m.total_input_tokens == sum(s.prompt_tokens or 0 for s in run.samples)
    # the gateway recorded the same token counts for the 8 measured requests
    records = gateway_records(server, 8)
    assert sum(r["completion_tokens"] for r in records) == 2 * 4 * 8
    engine = run.context["engine"]
    status = server.engine()
    assert engine["runtime"] == status["runtime"] == server.ready["runtime"]
    assert engine["options"] == status["options"]
    assert engine["model_sha256"].startswith("b179c952")
    assert engine["catalog_id"] == DEFAULT_MODEL and engine["version"]
    assert {"cpu", "memory", "gpus"} <= set(run.context["hardware"])
    assert run.prompts["input_len"] == 16 and run.prompts["tokenizer"]
    if server.ready["runtime"] == "llama-server":  # the Python server sends no usage in streams
        assert m.tokens_from_usage == m.completed
        assert len({s.prompt_tokens for s in run.samples}) == 1  # exact-length prompts
        assert run.decode_limit is not None and run.decode_limit.bound_tokens_per_s > 0


def test_our_ttft_and_decode_rate_agree_with_llama_servers_timings(
    server: ServerProcess, session_home: Path
) -> None:
    if server.ready["runtime"] != "llama-server":
        pytest.skip("only llama-server reports its own timings")
    status = server.engine()
    tokenizer = LlamaCppTokenizer(Path(status["model_path"]))
    # 128 prompt tokens: long enough that HTTP is a small part of TTFT, short enough that
    # the test stays well inside its timeout when another test suite shares the cores
    prompts = synthetic_prompts(tokenizer, 4, input_len=128, output_len=32, seed=11, warmup=1)
    assert all(p.input_tokens == 128 for p in prompts.prompts)  # exact, by the model's tokenizer
    target = local_target(
        server.openai_url, EngineStatus.model_validate(status), tokenizer.eos_token_id()
    )
    _, (run,) = run_sweep_blocking(target, BenchPlan((1,), warmup=1), prompts, {})
    ok = [s for s in run.samples if s.ok and s.engine_timings]
    assert len(ok) == 4
    ours = statistics.median(s.ttft_ms or 0.0 for s in ok)
    engine = statistics.median(s.engine_timings.prompt_ms for s in ok)  # type: ignore[union-attr]
    assert ours == pytest.approx(engine, rel=0.10)
    our_rate = statistics.median(
        (s.output_tokens - 1) / (s.e2e_ms - (s.ttft_ms or 0)) * 1000 for s in ok
    )
    engine_rate = statistics.median(s.engine_timings.decode_tokens_per_s or 0 for s in ok)  # type: ignore[union-attr]
    assert our_rate == pytest.approx(engine_rate, rel=0.10)


def scrape(server: ServerProcess) -> dict[str, list]:
    text = httpx.get(f"{server.base_url}/metrics", timeout=30).text
    return {f.name: f.samples for f in text_string_to_metric_families(text)}


def ok_requests(families: dict[str, list]) -> float:
    wanted = {"model": DEFAULT_MODEL, "status": "ok"}
    return sum(s.value for s in families.get("hostbench_requests", []) if s.labels == wanted)


def test_metrics_endpoint_parses_and_moves_when_requests_are_served(
    server: ServerProcess,
) -> None:
    before = scrape(server)
    body = {
        "model": DEFAULT_MODEL,
        "max_tokens": 4,
        "stream": True,
        "messages": [{"role": "user", "content": "Say hi."}],
    }
    with httpx.stream(
        "POST", f"{server.openai_url}/chat/completions", json=body, timeout=120
    ) as response:
        assert response.status_code == 200
        list(response.iter_lines())
    deadline = time.monotonic() + 30
    after = scrape(server)
    while ok_requests(after) <= ok_requests(before) and time.monotonic() < deadline:
        after = scrape(server)  # the record is submitted as the stream ends
    assert ok_requests(after) == ok_requests(before) + 1
    assert any(s.labels.get("window") == "1m" for s in after["hostbench_window_ttft_seconds"])
    if server.ready["runtime"] == "llama-server":
        generated = after["hostbench_engine_generation_tokens"]
        assert generated[0].labels == {"model": DEFAULT_MODEL, "runtime": "llama-server"}
        earlier = before.get("hostbench_engine_generation_tokens", [])
        assert generated[0].value > (earlier[0].value if earlier else 0)


def test_live_metrics_for_the_dashboard(server: ServerProcess, session_home: Path) -> None:
    denied = httpx.get(f"{server.base_url}/api/metrics/live", timeout=30)
    assert denied.status_code == 401
    settings = Settings(server={"port": server.port})
    client = ControlClient(settings, Locations.from_env({"HOSTBENCH_HOME": str(session_home)}))
    minute = client.request("GET", "/api/metrics/live")["models"][DEFAULT_MODEL]["1m"]
    assert minute["requests"] >= 1 and minute["ttft_ms"]["p50"] > 0
    events = []
    timeout = httpx.Timeout(10.0, read=30.0)
    with client.stream("/api/metrics/stream", timeout, params={"interval_s": 0.2}) as response:
        for event in EventSource(response).iter_sse():
            events.append(event.json())
            if len(events) == 2:
                break
    assert len(events) == 2 and events[1]["at"] > events[0]["at"]
    assert DEFAULT_MODEL in events[1]["models"]


def test_sequential_streams_on_kept_alive_connections_all_complete(server: ServerProcess) -> None:
    """llama-server closes some kept-alive connections after a streamed answer; the next
    request on that connection fails before a byte arrives, and must be sent again, not
    counted as a failure (the overhead benchmark's direct path lost 12 of 50 this way)."""
    body = {
        "model": DEFAULT_MODEL,
        "max_tokens": 8,
        "messages": [{"role": "user", "content": "Count to five."}],
    }
    engine_url = f"http://127.0.0.1:{server.engine()['port']}/v1"

    async def six_in_a_row() -> list[StreamSample]:
        async with aiohttp.ClientSession(timeout=CLIENT_TIMEOUT) as client:
            key = server.engine_key
            return [await stream_chat(client, engine_url, body, key) for _ in range(6)]

    samples = asyncio.run(six_in_a_row())
    assert [s.error for s in samples] == [None] * 6


def test_whole_answers_through_the_load_generator_count_every_token(
    server: ServerProcess,
) -> None:
    """`unary_chat` (non-streamed, for throughput without a client parsing tokens): 4
    answers, 2 at a time, each with the server's token count and its time."""
    body = {
        "model": DEFAULT_MODEL,
        "max_tokens": 12,
        "messages": [{"role": "user", "content": "Count to twenty."}],
        "ignore_eos": True,
    }
    engine_url = f"http://127.0.0.1:{server.engine()['port']}/v1"

    rate, samples = asyncio.run(
        aggregate_throughput(engine_url, body, 4, 2, unary_chat, headers=server.engine_key)
    )

    assert all(s.ok and s.tokens_from_usage and 0 < s.output_tokens <= 12 for s in samples)
    if server.ready["runtime"] == "llama-server":  # llama_cpp.server ignores ignore_eos
        assert [s.output_tokens for s in samples] == [12] * 4
    assert all(s.ttft_ms == s.e2e_ms and s.e2e_ms > 0 for s in samples)
    assert rate > 0


def test_a_refused_whole_answer_is_a_failed_sample_with_the_servers_reason(
    server: ServerProcess,
) -> None:
    async def ask() -> StreamSample:
        async with aiohttp.ClientSession(timeout=CLIENT_TIMEOUT) as client:
            body = {"model": "no-such-model", "messages": [{"role": "user", "content": "Hi"}]}
            return await unary_chat(client, server.openai_url, body)

    sample = asyncio.run(ask())

    assert not sample.ok and sample.error is not None and "HTTP 404" in sample.error


def test_the_gateways_cpu_is_read_from_both_processes_counters(server: ServerProcess) -> None:
    """`bench overhead`'s CPU step on the real engine: the same three answers direct and
    through the gateway, streamed and whole, with each process's own CPU time."""
    engine = server.engine()
    urls = {"direct": f"http://127.0.0.1:{engine['port']}/v1", "gateway": server.openai_url}
    body = {
        "model": DEFAULT_MODEL,
        "max_tokens": 8,
        "messages": [{"role": "user", "content": "Count to twenty."}],
    }
    cpu = process_cpu(server.proc.pid, engine["pid"])
    server_total_s, engine_total_s = cpu()
    assert server_total_s > 0.1 and engine_total_s > 0, "each process's own counters"
    headers = {"direct": server.engine_key}
    readings = asyncio.run(gateway_cpu(urls, body, 3, cpu, headers=headers))
    assert [reading.mode for reading in readings] == ["streamed", "whole"]
    for reading in readings:
        for block in (reading.direct, reading.gateway):
            assert block.requests == 3 and block.tokens > 0, block.samples
            assert block.engine_cpu_s > 0, "the engine computed every answer"
            # our server's share of three answers can be under the counters' 10 ms tick
            assert block.server_cpu_s >= 0
        assert reading.per_token_ms() >= 0 and reading.engine_per_token_ms() > 0
