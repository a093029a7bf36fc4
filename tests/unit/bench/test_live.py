"""Live metrics: rolling windows over request records, and their Prometheus text with the
engines' own metrics mapped to one naming scheme."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from bench import RequestRecorder
from bench.live import UNROUTED, LiveMetrics
from serving.engine_metrics import map_families, merge
from serving.prometheus import ServerMetrics
from storage import RequestRecord, RequestStatus, Store

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "engine_metrics"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def record(
    i: int,
    status: RequestStatus = RequestStatus.OK,
    *,
    model: str = "m",
    engine: str = "llama.cpp",
    ttft: float = 100.0,
    e2e: float = 1100.0,
    tokens: int = 11,
    stream: bool = True,
) -> RequestRecord:
    return RequestRecord(
        id=f"r{i}",
        model=model,
        engine=engine,
        endpoint="chat.completions",
        stream=stream,
        started_at=0.0,
        status=status,
        http_status=200,
        ttft_ms=ttft,
        e2e_ms=e2e,
        prompt_tokens=20,
        completion_tokens=tokens,
    )


def test_windows_by_hand() -> None:
    clock = Clock()
    live = LiveMetrics(clock=clock)
    clock.now += 600  # the server has been up 10 minutes
    live.observe(record(1, ttft=100.0, e2e=1100.0, tokens=11))  # TPOT 100
    clock.now += 30
    live.observe(record(2, ttft=300.0, e2e=1300.0, tokens=6))  # TPOT 200
    live.observe(record(3, RequestStatus.ENGINE_ERROR, tokens=0))
    live.observe(record(4, RequestStatus.CANCELLED))
    clock.now += 40  # record 1 is now 70 s old: out of the 1-minute window
    minute = live.window("m", 60.0)
    assert (minute.requests, minute.ok, minute.errors, minute.cancelled) == (3, 1, 1, 1)
    assert minute.error_rate == pytest.approx(1 / 3)
    assert minute.ttft_ms["p50"] == pytest.approx(300.0)
    assert minute.output_tokens_per_s == pytest.approx(6 / 60)
    quarter = live.window("m", 900.0)
    assert quarter.span_s == pytest.approx(670.0)  # younger than the window
    assert quarter.requests_per_s == pytest.approx(4 / 670)
    assert quarter.tpot_ms["p50"] == pytest.approx(150.0)
    assert quarter.e2e_ms["p50"] == pytest.approx(1200.0)


def test_old_records_are_dropped_and_refusals_share_one_series() -> None:
    clock = Clock()
    live = LiveMetrics(clock=clock)
    live.observe(record(1))
    for i, name in enumerate(("typo-1", "typo-2")):
        live.observe(record(10 + i, RequestStatus.CLIENT_ERROR, model=name, engine=""))
    assert live.models() == [UNROUTED, "m"]
    clock.now += 901
    live.observe(record(2))
    assert live.window("m", 900.0).requests == 1
    snapshot = live.snapshot()
    assert set(snapshot["models"]["m"]) == {"1m", "15m"}
    assert live.totals()["requests"][("m", "ok")] == 2


def test_the_recorder_feeds_its_listeners_and_survives_a_broken_one(tmp_path: Path) -> None:
    live = LiveMetrics()

    def broken(_: RequestRecord) -> None:
        raise RuntimeError("listener bug")

    recorder = RequestRecorder(Store(tmp_path / "s.sqlite"), listeners=(broken, live.observe))
    recorder.submit(record(1))
    recorder.close()
    assert live.window("m", 60.0).requests == 1


def families(text: str) -> dict[str, list]:
    return {f.name: f.samples for f in text_string_to_metric_families(text)}


def test_prometheus_text_parses_and_moves() -> None:
    live = LiveMetrics()
    metrics = ServerMetrics(live)
    before = families(generate_latest(metrics.registry).decode())
    assert "hostbench_requests" in before
    for i in range(3):
        result = record(i)
        live.observe(result)
        metrics.observe(result)
    after = families(generate_latest(metrics.registry).decode())
    ok = [s for s in after["hostbench_requests"] if s.labels == {"model": "m", "status": "ok"}]
    assert ok[0].value == 3
    tokens = {s.labels["kind"]: s.value for s in after["hostbench_tokens"]}
    assert tokens == {"prompt": 60, "completion": 33}
    counts = [s for s in after["hostbench_request_ttft_seconds"] if s.name.endswith("_count")]
    assert counts[0].value == 3
    window = [
        s
        for s in after["hostbench_window_ttft_seconds"]
        if s.labels == {"model": "m", "window": "1m", "quantile": "0.5"}
    ]
    assert window[0].value == pytest.approx(0.1)
    assert "hostbench_window_error_rate" in after


def test_llama_server_metrics_are_mapped() -> None:
    text = (FIXTURES / "llama_server.txt").read_text()
    mapped = {m.name: m for m in map_families(text, "smol", "llama-server")}
    generated = mapped["hostbench_engine_generation_tokens"]
    assert generated.type == "counter"
    (sample,) = generated.samples
    assert sample.name == "hostbench_engine_generation_tokens_total"
    assert sample.labels == {"model": "smol", "runtime": "llama-server"}
    assert "hostbench_engine_requests_running" in mapped
    assert not any("spec_decode" in name for name in mapped)  # unmapped: left out


def test_vllm_metrics_land_on_the_same_names() -> None:
    text = (FIXTURES / "vllm_documented.txt").read_text()
    llama = map_families((FIXTURES / "llama_server.txt").read_text(), "a", "llama-server")
    vllm = map_families(text, "b", "vllm")
    merged = {m.name: m for m in merge([*llama, *vllm])}
    running = merged["hostbench_engine_requests_running"]
    assert {s.labels["model"] for s in running.samples} == {"a", "b"}
    ttft = merged["hostbench_engine_ttft_seconds"]
    assert {s.name for s in ttft.samples} == {
        "hostbench_engine_ttft_seconds_bucket",
        "hostbench_engine_ttft_seconds_count",
        "hostbench_engine_ttft_seconds_sum",
    }
    assert merged["hostbench_engine_kv_cache_usage_ratio"].samples[0].value == 0.25


def test_engine_state_is_one_gauge_per_state_with_the_current_one_set() -> None:
    metrics = ServerMetrics(LiveMetrics())
    metrics.engine_states.latest = {"nap": "sleeping", "main": "ready"}
    samples = families(generate_latest(metrics.registry).decode())["hostbench_engine_state"]
    current = {(s.labels["model"], s.labels["state"]) for s in samples if s.value == 1}
    assert current == {("nap", "sleeping"), ("main", "ready")}
    assert len(samples) == 2 * 6, "every state of both engines, the others at 0"
    metrics.engine_states.latest = {}
    assert families(generate_latest(metrics.registry).decode())["hostbench_engine_state"] == []
