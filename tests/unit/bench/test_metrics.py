"""Metric math against hand-computed examples (vLLM's definitions; docs/architecture.md,
"Measuring")."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from bench.loadgen import EngineTimings, StreamSample, _Clock
from bench.metrics import SloError, compute_metrics, meets_slo, parse_slo, prefill_share
from bench.stats import PERCENTILES, percentile, summarize


class Ticks:
    """A clock that reads whatever the test set last (seconds)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def feed(ticks: Ticks, clock: _Clock, events: list[tuple[float, dict]]) -> None:
    for at_ms, payload in events:
        ticks.now = at_ms / 1000.0
        clock.chunk(payload)


def content(text: str) -> dict:
    return {"choices": [{"index": 0, "delta": {"content": text}}]}


def test_clock_ttft_is_the_first_chunk_with_choices_and_e2e_the_last_content() -> None:
    ticks = Ticks()
    clock = _Clock(clock=ticks)
    feed(
        ticks,
        clock,
        [
            (100.0, {"choices": [{"index": 0, "delta": {"role": "assistant", "content": None}}]}),
            (130.0, content("Hello")),
            (180.0, content(" big world")),  # one chunk carrying several tokens
            (200.0, {"choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]}),
            (210.0, {"choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 4}}),
        ],
    )
    assert clock.ttft_ms == pytest.approx(100.0)
    assert clock.last_ms == pytest.approx(180.0)
    assert clock.itl_ms == [pytest.approx(50.0)]  # gaps between content chunks only
    assert (clock.usage_tokens, clock.prompt_tokens) == (4, 12)


def test_clock_keeps_llama_server_timings() -> None:
    clock = _Clock(clock=Ticks())
    timings = {"prompt_n": 31, "prompt_ms": 1630.0, "predicted_n": 5, "predicted_ms": 600.0}
    clock.chunk({"choices": [], "usage": {"completion_tokens": 5}, "timings": timings})
    assert clock.timings == EngineTimings(31, 1630.0, 5, 600.0)
    assert clock.timings.decode_tokens_per_s == pytest.approx(4 / 0.6)


def sample(
    ttft: float,
    e2e: float,
    tokens: int,
    *,
    ok: bool = True,
    prompt: int = 10,
    itl: tuple[float, ...] = (),
) -> StreamSample:
    return StreamSample(
        ok,
        ttft,
        e2e,
        tokens,
        itl,
        error=None if ok else "HTTP 503: busy",
        prompt_tokens=prompt,
        tokens_from_usage=True,
    )


def test_tpot_of_several_tokens_per_chunk_and_of_one_token() -> None:
    several = sample(50.0, 350.0, 7, itl=(150.0, 150.0))  # 7 tokens in 3 chunks
    assert several.tpot_ms == pytest.approx(300.0 / 6)
    assert sample(200.0, 200.0, 1).tpot_ms is None


def run_samples() -> list[StreamSample]:
    return [
        sample(100.0, 500.0, 5, itl=(100.0, 100.0, 100.0, 100.0)),  # TPOT 100
        sample(200.0, 200.0, 1),  # one token: no TPOT
        sample(50.0, 350.0, 7, itl=(150.0, 150.0)),  # TPOT 50
        sample(10.0, 20.0, 0, ok=False),
    ]


def test_run_metrics_by_hand() -> None:
    metrics = compute_metrics(run_samples(), duration_s=2.0)
    assert (metrics.completed, metrics.failed) == (3, 1)
    assert metrics.total_input_tokens == 30
    assert metrics.total_output_tokens == 13
    assert metrics.request_throughput == pytest.approx(1.5)
    assert metrics.output_throughput == pytest.approx(6.5)
    assert metrics.total_token_throughput == pytest.approx(21.5)
    assert metrics.ttft_ms["p50"] == pytest.approx(100.0)
    assert metrics.ttft_ms["mean"] == pytest.approx(350.0 / 3)
    assert metrics.tpot_ms["p50"] == pytest.approx(75.0)  # median of 100 and 50
    assert metrics.itl_ms["p50"] == pytest.approx(100.0)  # 100 x4, 150 x2
    assert metrics.e2e_ms["p50"] == pytest.approx(350.0)
    assert metrics.decode_tokens_per_s == pytest.approx(1000.0 / 75.0)
    assert metrics.goodput is None
    assert metrics.errors == ("HTTP 503: busy",)


def test_goodput_counts_requests_within_every_slo() -> None:
    by_ttft = compute_metrics(run_samples(), 2.0, parse_slo("ttft_ms=150"))
    assert by_ttft.goodput == pytest.approx(1.0)  # 100 and 50 pass, 200 does not
    by_tpot = compute_metrics(run_samples(), 2.0, {"tpot_ms": 60.0})
    assert by_tpot.goodput == pytest.approx(1.0)  # TPOT 50 and the one-token answer
    both = compute_metrics(run_samples(), 2.0, {"tpot_ms": 60.0, "ttft_ms": 150.0})
    assert both.goodput == pytest.approx(0.5)
    assert not meets_slo(run_samples()[3], {"ttft_ms": 1e9})  # failed never counts


@pytest.mark.parametrize("text", ["ttft=5", "ttft_ms", "ttft_ms=abc", "e2e_ms=-1"])
def test_bad_slo_says_what_is_wrong(text: str) -> None:
    with pytest.raises(SloError, match="--slo"):
        parse_slo(text)


def test_slo_parses_all_keys() -> None:
    assert parse_slo(" ttft_ms=500, tpot_ms=50,e2e_ms=9000 ") == {
        "ttft_ms": 500.0,
        "tpot_ms": 50.0,
        "e2e_ms": 9000.0,
    }


@pytest.mark.parametrize("size", [1, 2, 3, 10, 101, 1000])
def test_percentiles_match_numpy_linear_interpolation(size: int) -> None:
    values = [random.Random(i).lognormvariate(3, 1) for i in range(size)]
    for q in PERCENTILES:
        assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)))
    assert summarize(values)["mean"] == pytest.approx(float(np.mean(values)))


def test_no_values_give_nan_not_an_error() -> None:
    metrics = compute_metrics([], duration_s=0.0)
    assert metrics.completed == 0
    assert math.isnan(metrics.ttft_ms["p50"])
    assert math.isnan(metrics.output_throughput)


def test_prefill_share_counts_overlapping_prompt_phases_once() -> None:
    def timed(sent: float, ttft: float, prompt_ms: float) -> StreamSample:
        timings = EngineTimings(10, prompt_ms, 5, 100.0)
        return StreamSample(True, ttft, ttft + 400.0, 5, engine_timings=timings, sent_at_s=sent)

    # two prompts batched together (0.1-0.3 s), one alone later (1.0-1.2 s), in 2 s of run
    samples = [timed(0.0, 300.0, 200.0), timed(0.05, 300.0, 250.0), timed(0.9, 300.0, 200.0)]
    share, source = prefill_share(samples, duration_s=2.0)
    assert share == pytest.approx((0.3 - 0.05 + 0.2) / 2.0)
    assert "engine prompt_ms" in source
    assert prefill_share(samples, duration_s=0.1)[0] == 1.0  # capped


def test_prefill_share_without_timings_uses_ttft() -> None:
    untimed = [
        StreamSample(True, 100.0, 400.0, 5, sent_at_s=0.0),
        StreamSample(True, 300.0, 600.0, 5, sent_at_s=1.0),
    ]
    share, source = prefill_share(untimed, duration_s=2.0)
    assert share == pytest.approx(0.4 / 2.0)
    assert "TTFT" in source


def test_metrics_round_trip_through_a_dict() -> None:
    metrics = compute_metrics(run_samples(), 2.0, {"ttft_ms": 150.0})
    assert type(metrics).from_dict(metrics.as_dict()) == metrics
