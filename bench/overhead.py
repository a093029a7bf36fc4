"""What the gateway costs, and how our launch compares with llama-cpp-python's defaults.

Requests are sent one at a time, alternating between the paths (direct to the engine,
through the gateway) and swapping the order every round, so both see the same machine
state; a shared, noisy machine affects both alike and the ratio stays meaningful.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

from bench.loadgen import ChatSender, StreamSample, run_concurrent, stream_chat
from bench.stats import percentile, summarize

CLIENT_TIMEOUT = aiohttp.ClientTimeout(total=None, connect=10, sock_read=600)

StepProgress = Callable[[str, int, int], None]
"""(step, requests done, requests in the step): called after every request."""


def _silent(_step: str, _done: int, _total: int) -> None:
    pass


@dataclass(frozen=True)
class PathStats:
    """Latency and throughput of one path over its samples."""

    name: str
    samples: tuple[StreamSample, ...]

    @property
    def ok(self) -> list[StreamSample]:
        return [s for s in self.samples if s.ok]

    def ttft(self) -> dict[str, float]:
        return summarize([s.ttft_ms for s in self.ok if s.ttft_ms is not None])

    def e2e(self) -> dict[str, float]:
        return summarize([s.e2e_ms for s in self.ok])

    def tokens_per_s(self) -> float:
        """Output tokens over the summed end-to-end time of sequential requests."""
        seconds = sum(s.e2e_ms for s in self.ok) / 1000.0
        return sum(s.output_tokens for s in self.ok) / seconds if seconds else math.nan

    def failures(self) -> Counter[str]:
        """How often each error ended a request."""
        return Counter(s.error or "no error text" for s in self.samples if not s.ok)

    def decode_tokens_per_s(self) -> float:
        """1 / median TPOT: decode speed of one stream, prefill excluded."""
        tpots = [s.tpot_ms for s in self.ok if s.tpot_ms]
        return 1000.0 / percentile(tpots, 50) if tpots else math.nan


async def alternate(
    paths: Mapping[str, str],
    body: Mapping[str, Any],
    rounds: int,
    progress: StepProgress = _silent,
    step: str = "alternating requests",
    *,
    headers: Mapping[str, Mapping[str, str]] | None = None,
) -> dict[str, PathStats]:
    """Send `rounds` requests to each path, interleaved, one at a time; `headers` by path
    name (an engine reached straight wants its key)."""
    samples: dict[str, list[StreamSample]] = {name: [] for name in paths}
    names, total = list(paths), rounds * len(paths)
    async with aiohttp.ClientSession(timeout=CLIENT_TIMEOUT) as client:
        for round_ in range(rounds):
            for name in names if round_ % 2 == 0 else reversed(names):
                sent = (headers or {}).get(name)
                samples[name].append(await stream_chat(client, paths[name], body, sent))
                progress(step, sum(map(len, samples.values())), total)
    return {name: PathStats(name, tuple(found)) for name, found in samples.items()}


@dataclass(frozen=True)
class Overhead:
    """Direct to the engine against through the gateway; `floor`, where measured, is the
    same path through a bare TCP relay (bench.tcp_relay): what any extra process adds."""

    direct: PathStats
    gateway: PathStats
    floor: PathStats | None = None

    def added_ms(self, metric: str, q: int) -> float:
        mine = getattr(self.gateway, metric)()[f"p{q}"]
        return float(mine - getattr(self.direct, metric)()[f"p{q}"])

    def paired_added_e2e_ms(self) -> float:
        return self.paired_added_ms("e2e_ms")

    def paired_added_ms(self, field: str) -> float:
        """Median of per-round differences of a sample's `field` (e2e_ms, ttft_ms), which
        cancels slow phases of the machine."""
        pairs = zip(self.gateway.samples, self.direct.samples, strict=False)
        found = [(getattr(g, field), getattr(d, field)) for g, d in pairs if g.ok and d.ok]
        return percentile([g - d for g, d in found if g is not None and d is not None], 50)

    def throughput_ratio(self) -> float:
        return self.gateway.tokens_per_s() / self.direct.tokens_per_s()


async def aggregate_throughput(
    base_url: str,
    body: Mapping[str, Any],
    requests: int,
    concurrency: int,
    send: ChatSender = stream_chat,
    *,
    progress: StepProgress = _silent,
    step: str = "concurrent requests",
    headers: Mapping[str, str] | None = None,
) -> tuple[float, list[StreamSample]]:
    """Output tokens per second of wall time with `concurrency` requests in flight, each
    sent with `send` (streamed; `unary_chat` for whole answers) and `headers`."""
    connector = aiohttp.TCPConnector(limit=0)
    done = 0

    async def one(_index: int) -> StreamSample:
        nonlocal done
        sample = await send(client, base_url, body, headers)
        done += 1
        progress(step, done, requests)
        return sample

    async with aiohttp.ClientSession(timeout=CLIENT_TIMEOUT, connector=connector) as client:
        samples, wall_s = await run_concurrent(requests, concurrency, one)
    return sum(s.output_tokens for s in samples if s.ok) / wall_s, samples


def overhead_table(result: Overhead) -> list[str]:
    rows = [
        "| path | TTFT p50 | TTFT p95 | E2E p50 | E2E p95 | tok/s |",
        "|---|---|---|---|---|---|",
    ]
    measured = (result.direct, result.floor, result.gateway)
    for stats in (path for path in measured if path is not None):
        ttft, e2e = stats.ttft(), stats.e2e()
        rows.append(
            f"| {stats.name} ({len(stats.ok)}/{len(stats.samples)} ok) | {ttft['p50']:.1f} ms "
            f"| {ttft['p95']:.1f} ms | {e2e['p50']:.1f} ms | {e2e['p95']:.1f} ms "
            f"| {stats.tokens_per_s():.1f} |"
        )
    return rows


def summary_lines(result: Overhead) -> Sequence[str]:
    return [
        f"- added TTFT p50: {result.added_ms('ttft', 50):+.2f} ms, "
        f"p95: {result.added_ms('ttft', 95):+.2f} ms "
        f"(paired median {result.paired_added_ms('ttft_ms'):+.2f} ms)",
        *floor_lines(result),
        f"- added E2E p50: {result.added_ms('e2e', 50):+.2f} ms "
        f"(paired median {result.paired_added_e2e_ms():+.2f} ms)",
        f"- throughput ratio gateway/direct: {result.throughput_ratio():.3f}",
        *failure_lines(result.direct),
        *failure_lines(result.gateway),
    ]


def floor_lines(result: Overhead) -> list[str]:
    """What a bare relay adds on this machine, and the gateway beyond it (paired TTFT)."""
    if result.floor is None:
        return []
    relay = Overhead(result.direct, result.floor).paired_added_ms("ttft_ms")
    beyond = Overhead(result.floor, result.gateway).paired_added_ms("ttft_ms")
    return [
        f"- a bare TCP relay (the least any extra process adds here) adds TTFT "
        f"{relay:+.2f} ms; the gateway adds {beyond:+.2f} ms beyond it (paired medians)",
        *failure_lines(result.floor),
    ]


def failure_lines(stats: PathStats) -> list[str]:
    """One line per distinct error, so a failed request is never just a missing row."""
    return [
        f"- {stats.name}: {count} failed: {error}"
        for error, count in stats.failures().most_common()
    ]


@dataclass(frozen=True)
class ServerSpeed:
    """Decode speed of one server: one stream, and `concurrency` streams at once."""

    name: str
    single: PathStats
    aggregate_tokens_per_s: float
    concurrent: tuple[StreamSample, ...]

    def complete_answers(self, max_tokens: int) -> int:
        return sum(1 for s in self.concurrent if s.ok and s.output_tokens == max_tokens)


async def compare_servers(
    urls: Mapping[str, str],
    body: Mapping[str, Any],
    rounds: int,
    concurrency: int,
    progress: StepProgress = _silent,
) -> list[ServerSpeed]:
    """Single-stream decode (interleaved rounds) and aggregate throughput of each server."""
    singles = await alternate(urls, body, rounds, progress, "single-stream decode, each server")
    speeds = []
    for name, url in urls.items():
        step = f"{concurrency} streams at once on {name}"
        total, samples = await aggregate_throughput(
            url, body, concurrency * 2, concurrency, progress=progress, step=step
        )
        speeds.append(ServerSpeed(name, singles[name], total, tuple(samples)))
    return speeds


def speed_table(speeds: Sequence[ServerSpeed], concurrency: int, max_tokens: int) -> list[str]:
    rows = [
        f"| server | decode tok/s, 1 stream | aggregate tok/s, {concurrency} streams "
        f"| complete answers at {concurrency} |",
        "|---|---|---|---|",
    ]
    for speed in speeds:
        rows.append(
            f"| {speed.name} | {speed.single.decode_tokens_per_s():.1f} "
            f"| {speed.aggregate_tokens_per_s:.1f} "
            f"| {speed.complete_answers(max_tokens)}/{len(speed.concurrent)} |"
        )
    return rows
