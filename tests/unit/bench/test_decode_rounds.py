"""The single-stream comparison of devtools.concurrency_bench: each round's rates are divided by
that round's llama-bench rate, and each reading keeps its own source."""

from __future__ import annotations

from bench.loadgen import EngineTimings, StreamSample
from devtools.concurrency_bench import DecodeRound, decode_rows, paired_lines, tg_by_depth


def _sample(
    ttft_ms: float, e2e_ms: float, tokens: int, predicted_ms: float | None = None
) -> StreamSample:
    timings = EngineTimings(20, 5.0, tokens, predicted_ms) if predicted_ms else None
    return StreamSample(True, ttft_ms, e2e_ms, tokens, engine_timings=timings)


def test_a_round_reads_the_engine_timings_from_the_direct_request_only() -> None:
    direct = _sample(10.0, 10.0 + 63 * 20.0, 64, predicted_ms=63 * 10.0)
    gateway = _sample(12.0, 12.0 + 63 * 25.0, 64, predicted_ms=63 * 1.0)

    found = DecodeRound.of({0: 80.0}, direct, gateway)

    assert found.engine_own == 100.0
    assert found.direct == 50.0
    assert found.gateway == 40.0


def test_a_failed_request_gives_no_rate() -> None:
    failed = StreamSample(False, None, 5.0, 0, error="HTTP 503")

    found = DecodeRound.of({0: 80.0}, failed, failed)

    assert (found.engine_own, found.direct, found.gateway) == (None, None, None)


def test_ratios_are_taken_round_by_round() -> None:
    """A slow round and a fast one: the median of per-round ratios is 0.9; dividing the
    median rates (60 / 75) would say 0.8."""
    rounds = [DecodeRound(100.0, 90.0, 90.0, 90.0), DecodeRound(50.0, 45.0, 45.0, 45.0)]
    rounds.append(DecodeRound(75.0, 60.0, 60.0, None))

    rows = decode_rows(rounds, threads=2, tokens=64)

    own = next(row for row in rows if row.startswith("| the engine's own timings"))
    assert own.split("|")[3].strip() == "0.90"
    through = next(row for row in rows if row.startswith("| client, through hostbench"))
    assert "0.90" in through and "0.90–0.90" in through


def test_a_round_is_also_read_against_llama_bench_from_the_prompt_length() -> None:
    """llama-bench from an empty context and from the request's 46 prompt tokens (figures of
    one round on the test machine: 231.5 and 209.2 tok/s); the engine's 207 tok/s is 0.89
    of the first and 0.99 of the second."""
    direct = StreamSample(
        True,
        10.0,
        10.0 + 63 * 5.0,
        64,
        prompt_tokens=46,
        engine_timings=EngineTimings(46, 50.0, 64, 63 * 1000 / 207.0),
    )
    found = DecodeRound.of({0: 231.5, 46: 209.2}, direct, direct)

    rows = decode_rows([found], threads=2, tokens=64)

    assert rows[0].endswith("ratio to tg64 @ d46 | range |")
    assert rows[3].startswith("| llama-bench tg64 @ d46 | 209.2 |")
    own = next(row for row in rows if row.startswith("| the engine's own timings"))
    assert own.split("|")[3:7] == [" 0.89 ", " 0.89–0.89 ", " 0.99 ", " 0.99–0.99 "]


def test_llama_bench_csv_is_read_by_depth() -> None:
    """Two rows of llama-bench -o csv as this build printed them (columns cut to those read
    and two neighbours)."""
    text = (
        "n_prompt,n_gen,n_depth,avg_ts,stddev_ts\n"
        '"0","8","0","212.754426","0.000000"\n'
        '"0","8","46","212.207147","0.000000"\n'
    )

    assert tg_by_depth(text) == {0: 212.754426, 46: 212.207147}


def test_the_gateway_is_also_read_against_direct_in_the_same_round() -> None:
    """Per-round ratios 0.95, 0.98 and 0.90 (a slow round halves both rates): the median
    is 0.95; a round without both readings is left out."""
    rounds = [DecodeRound(100.0, None, 100.0, 95.0), DecodeRound(50.0, None, 50.0, 49.0)]
    rounds += [DecodeRound(100.0, None, 100.0, 90.0), DecodeRound(100.0, None, None, 90.0)]

    lines = paired_lines(rounds)

    assert lines[-1] == (
        "Through hostbench / direct, paired in each round: median 0.950 "
        "(range 0.900–0.980, 3 rounds)"
    )
    assert paired_lines([DecodeRound(100.0, None, None, None)]) == []
