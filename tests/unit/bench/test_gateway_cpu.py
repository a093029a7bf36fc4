"""The gateway's CPU from two blocks of the same load: our server's background rate, read
in the direct block, is taken off the gateway block before dividing."""

from __future__ import annotations

import math

import pytest

from bench.gateway_cpu import CpuBlock, GatewayCpu, cpu_lines, cpu_table
from bench.loadgen import StreamSample


def answers(count: int, tokens: int = 16, failed: int = 0) -> tuple[StreamSample, ...]:
    ok = (StreamSample(True, 10.0, 100.0, tokens),) * count
    return ok + (StreamSample(False, None, 5.0, 0, error="HTTP 503"),) * failed


def test_relaying_cpu_is_the_gateway_blocks_cpu_less_the_servers_background() -> None:
    direct = CpuBlock("direct", answers(10), wall_s=2.0, server_cpu_s=0.010, engine_cpu_s=1.6)
    gateway = CpuBlock("gateway", answers(10), wall_s=3.0, server_cpu_s=0.055, engine_cpu_s=1.6)
    reading = GatewayCpu("streamed", direct, gateway)
    assert reading.background_s == pytest.approx(0.015), "5 ms/s of background over 3 s"
    assert reading.per_request_ms() == pytest.approx(4.0)
    assert reading.per_token_ms() == pytest.approx(0.25)
    assert reading.engine_per_token_ms() == pytest.approx(10.0)
    assert reading.share_of_engine() == pytest.approx(0.025)
    (line,) = cpu_lines([reading])
    assert "4.00 ms per request" in line and "2.5% of the engine's 10.00 ms" in line
    assert cpu_table([reading])[2] == "| streamed | direct | 10/10 | 160 | 2.00 | 0.010 | 1.600 |"


def test_failed_requests_count_for_nothing_and_no_answer_is_no_figure() -> None:
    direct = CpuBlock("direct", answers(0, failed=2), wall_s=0.0, server_cpu_s=0.0, engine_cpu_s=0)
    gateway = CpuBlock("gateway", answers(2, failed=1), 1.0, server_cpu_s=0.002, engine_cpu_s=0.1)
    reading = GatewayCpu("whole", direct, gateway)
    assert reading.gateway.requests == 2 and reading.gateway.tokens == 32
    assert reading.background_s == 0.0 and reading.per_request_ms() == pytest.approx(1.0)
    assert math.isnan(reading.engine_per_token_ms()) and math.isnan(reading.share_of_engine())


def test_a_server_busier_in_the_direct_block_gives_zero_not_a_negative_cost() -> None:
    direct = CpuBlock("direct", answers(4), wall_s=1.0, server_cpu_s=0.050, engine_cpu_s=0.5)
    gateway = CpuBlock("gateway", answers(4), wall_s=1.0, server_cpu_s=0.020, engine_cpu_s=0.5)
    assert GatewayCpu("streamed", direct, gateway).relay_cpu_s == 0.0
