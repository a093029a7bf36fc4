"""The gateway-overhead summary: rounds are paired by index, failures are named."""

from __future__ import annotations

from bench.loadgen import StreamSample
from bench.overhead import Overhead, PathStats, overhead_table, summary_lines


def ok(e2e_ms: float) -> StreamSample:
    return StreamSample(True, 10.0, e2e_ms, 8)


def failed(error: str) -> StreamSample:
    return StreamSample(False, None, 5.0, 0, error=error)


def test_paired_difference_skips_rounds_where_either_path_failed() -> None:
    # Round 2 failed on the direct path: pairing the surviving samples in order would
    # compare gateway round 2 with direct round 3 (120 - 100) and distort the median.
    direct = PathStats("direct", (ok(100), failed("timeout"), ok(100)))
    gateway = PathStats("gateway", (ok(104), ok(120), ok(106)))
    assert Overhead(direct, gateway).paired_added_e2e_ms() == 5.0


def test_summary_counts_each_distinct_failure() -> None:
    direct = PathStats(
        "direct", (ok(100), failed("ServerDisconnectedError"), failed("ServerDisconnectedError"))
    )
    gateway = PathStats("gateway", (ok(101), ok(102), failed("HTTP 503")))
    lines = summary_lines(Overhead(direct, gateway))
    assert "- direct: 2 failed: ServerDisconnectedError" in lines
    assert "- gateway: 1 failed: HTTP 503" in lines


def test_the_floor_separates_the_relay_from_the_gateway_beyond_it() -> None:
    def ttft(ms: float) -> StreamSample:
        return StreamSample(True, ms, 100.0, 8)

    direct = PathStats("direct", (ttft(20), ttft(30), ttft(20)))
    relay = PathStats("bare TCP relay", (ttft(21), ttft(31), ttft(21.5)))
    gateway = PathStats("gateway", (ttft(23), ttft(33), ttft(23)))

    lines = summary_lines(Overhead(direct, gateway, floor=relay))

    floor = next(line for line in lines if "bare TCP relay" in line)
    assert "adds TTFT +1.00 ms" in floor
    assert "adds +2.00 ms beyond it" in floor
    assert any("paired median +3.00 ms" in line for line in lines)
    assert len(overhead_table(Overhead(direct, gateway, floor=relay))) == 2 + 3
