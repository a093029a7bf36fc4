"""What the gateway costs in CPU: the same fixed load direct to the engine and through our
server, answers streamed and whole, with both processes' own CPU counters read around each
block. CPU time is steadier than wall time on a shared machine, where other work stretches
every wall-clock figure but not the CPU a process itself used (docs/benchmarks.md).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
import psutil

from bench.loadgen import ChatSender, StreamSample, stream_chat, unary_chat
from bench.overhead import CLIENT_TIMEOUT, StepProgress

ProcessCpu = Callable[[], tuple[float, float]]
"""CPU seconds (user + system) used so far by (our server, its engine)."""


def process_cpu(server_pid: int, engine_pid: int) -> ProcessCpu:
    """The CPU counters of two processes, read from the operating system."""
    server, engine = psutil.Process(server_pid), psutil.Process(engine_pid)

    def read() -> tuple[float, float]:
        return cpu_seconds(server), cpu_seconds(engine)

    return read


def cpu_seconds(process: psutil.Process) -> float:
    """The CPU time (user + system) the process has used so far."""
    times = process.cpu_times()
    return float(times.user + times.system)


@dataclass(frozen=True)
class CpuBlock:
    """A fixed load on one path, one request at a time, and the CPU each process used."""

    path: str
    samples: tuple[StreamSample, ...]
    wall_s: float
    server_cpu_s: float
    engine_cpu_s: float

    @property
    def tokens(self) -> int:
        return sum(s.output_tokens for s in self.samples if s.ok)

    @property
    def requests(self) -> int:
        return sum(1 for s in self.samples if s.ok)


@dataclass(frozen=True)
class GatewayCpu:
    """The same load direct to the engine and through the gateway, answers streamed or
    whole. Our server does its own background work (health checks, telemetry) in both
    blocks; its rate in the direct block, over the gateway block's wall time, is taken
    off, so what is left is the CPU of relaying."""

    mode: str
    direct: CpuBlock
    gateway: CpuBlock

    @property
    def background_s(self) -> float:
        rate = self.direct.server_cpu_s / self.direct.wall_s if self.direct.wall_s else 0.0
        return rate * self.gateway.wall_s

    @property
    def relay_cpu_s(self) -> float:
        return max(0.0, self.gateway.server_cpu_s - self.background_s)

    def per_request_ms(self) -> float:
        return _per(self.relay_cpu_s * 1000, self.gateway.requests)

    def per_token_ms(self) -> float:
        return _per(self.relay_cpu_s * 1000, self.gateway.tokens)

    def engine_per_token_ms(self) -> float:
        return _per(self.direct.engine_cpu_s * 1000, self.direct.tokens)

    def share_of_engine(self) -> float:
        """The gateway's CPU per relayed token over the engine's CPU per token."""
        return _per(self.per_token_ms(), self.engine_per_token_ms())


def _per(amount: float, count: float) -> float:
    return amount / count if count else math.nan


async def cpu_block(
    path: str,
    url: str,
    *,
    body: Mapping[str, Any],
    rounds: int,
    send: ChatSender,
    cpu: ProcessCpu,
    progress: StepProgress | None = None,
    step: str = "CPU",
    headers: Mapping[str, str] | None = None,
) -> CpuBlock:
    """`rounds` requests to `url`, one at a time, between two readings of `cpu`."""
    samples = []
    async with aiohttp.ClientSession(timeout=CLIENT_TIMEOUT) as client:
        server_before, engine_before = cpu()
        started = time.perf_counter()
        for done in range(1, rounds + 1):
            samples.append(await send(client, url, body, headers))
            if progress is not None:
                progress(step, done, rounds)
        wall_s = time.perf_counter() - started
        server_after, engine_after = cpu()
    return CpuBlock(
        path, tuple(samples), wall_s, server_after - server_before, engine_after - engine_before
    )


CPU_MODES: tuple[tuple[str, ChatSender], ...] = (("streamed", stream_chat), ("whole", unary_chat))


async def gateway_cpu(
    urls: Mapping[str, str],
    body: Mapping[str, Any],
    rounds: int,
    cpu: ProcessCpu,
    progress: StepProgress | None = None,
    *,
    headers: Mapping[str, Mapping[str, str]] | None = None,
) -> list[GatewayCpu]:
    """Each mode's load direct (`urls["direct"]`) and through the gateway, the second
    mode in the other order so neither path always goes first; `headers` by path."""
    found = []
    for index, (mode, send) in enumerate(CPU_MODES):
        order = ("direct", "gateway") if index % 2 == 0 else ("gateway", "direct")
        blocks = {}
        for path in order:
            step = f"CPU of {rounds} {mode} answers, {path}"
            blocks[path] = await cpu_block(
                path, urls[path], body=body, rounds=rounds, send=send, cpu=cpu,
                progress=progress, step=step, headers=(headers or {}).get(path),
            )  # fmt: skip
        found.append(GatewayCpu(mode, blocks["direct"], blocks["gateway"]))
    return found


def cpu_table(readings: Sequence[GatewayCpu]) -> list[str]:
    rows = [
        "| answers | path | requests ok | tokens | wall s | our server CPU s | engine CPU s |",
        "|---|---|---|---|---|---|---|",
    ]
    for reading in readings:
        for block in (reading.direct, reading.gateway):
            rows.append(
                f"| {reading.mode} | {block.path} | {block.requests}/{len(block.samples)} "
                f"| {block.tokens} | {block.wall_s:.2f} | {block.server_cpu_s:.3f} "
                f"| {block.engine_cpu_s:.3f} |"
            )
    return rows


def cpu_lines(readings: Sequence[GatewayCpu]) -> list[str]:
    return [
        f"- {r.mode} answers: the gateway's CPU {r.per_request_ms():.2f} ms per request, "
        f"{r.per_token_ms():.3f} ms per relayed token = {r.share_of_engine():.1%} of the "
        f"engine's {r.engine_per_token_ms():.2f} ms per token (our server's background "
        f"{r.background_s * 1000:.0f} ms taken off)"
        for r in readings
    ]
