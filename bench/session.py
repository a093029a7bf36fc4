"""A benchmark session: one prompt set sent at each concurrency of a sweep, each level
measured (metrics, power, the decode bound) and stored as a run.

The one entry point for every front end: the CLI calls `run_sweep_blocking`, a Textual
thread worker can call it the same way, passing `progress` (called from the event loop's
thread with a SweepProgress) and a threading.Event to cancel.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import aiohttp

from bench.energy import with_idle_time
from bench.errors import BenchUsageError
from bench.limits import LimitInputs
from bench.load import CLIENT_TIMEOUT, LoadResult, Target, request_body, run_load
from bench.loadgen import StreamSample, stream_chat
from bench.metrics import compute_metrics, prefill_share
from bench.power import UNKNOWN_POWER, PowerFigure, PowerMeter
from bench.prompts import PromptSet
from bench.runs import BenchRun, BenchRuns


@dataclass(frozen=True)
class BenchPlan:
    concurrencies: tuple[int, ...] = (1,)
    request_rate: float = math.inf
    slo: dict[str, float] = field(default_factory=dict)
    seed: int = 0
    warmup: int = 1
    """Requests sent (and discarded) before the first level: engine caches, connections."""


def parse_levels(text: str) -> tuple[int, ...]:
    """`1,4,8` -> (1, 4, 8): the concurrency levels of a sweep."""
    try:
        levels = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise BenchUsageError(f"--concurrency: {text!r} is not a list of numbers") from None
    if not levels or min(levels) < 1:
        raise BenchUsageError("--concurrency: give one or more numbers >= 1, e.g. 1,4,8")
    return levels


@dataclass(frozen=True)
class SweepProgress:
    """Where a sweep is: level `level` of `levels` (at `concurrency`), `done` of `total`."""

    level: int
    levels: int
    concurrency: int
    done: int
    total: int
    failed: int
    finished_run: BenchRun | None = None
    """Set once per level, when its run is measured and stored."""


@dataclass
class SweepHooks:
    """Optional collaborators: power meter, store, progress callback, cancel flag."""

    power: PowerMeter | None = None
    runs: BenchRuns | None = None
    limit: LimitInputs | None = None
    progress: Callable[[SweepProgress], object] | None = None
    cancel: threading.Event | None = None


async def warm_up(target: Target, prompts: PromptSet, count: int) -> list[StreamSample]:
    """Send `count` requests one at a time; a failure here means the target is unusable."""
    samples = []
    async with aiohttp.ClientSession(timeout=CLIENT_TIMEOUT) as client:
        for prompt in prompts.for_warmup(count):
            body = request_body(target, prompt)
            samples.append(await stream_chat(client, target.base_url, body, target.headers()))
    return samples


@dataclass
class _Sweep:
    """One session's fixed parts, so each level is measured and recorded the same way."""

    target: Target
    plan: BenchPlan
    prompts: PromptSet
    context: dict[str, Any]
    hooks: SweepHooks
    group: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    def report(
        self, level: int, concurrency: int, done: int, failed: int, run: BenchRun | None = None
    ) -> None:
        if self.hooks.progress is not None:
            levels, total = len(self.plan.concurrencies), len(self.prompts.for_level(level - 1))
            progress = SweepProgress(level, levels, concurrency, done, total, failed, run)
            self.hooks.progress(progress)

    async def measure(self, level: int, concurrency: int) -> tuple[LoadResult, PowerFigure]:
        failed = 0

        def on_done(done: int, _total: int, sample: StreamSample) -> None:
            nonlocal failed
            failed += not sample.ok
            self.report(level, concurrency, done, failed)

        power = self.hooks.power
        if power is not None:
            await asyncio.to_thread(power.start)
        self.report(level, concurrency, 0, 0)
        result = await run_load(
            self.target,
            self.prompts.for_level(level - 1),
            concurrency,
            self.plan.request_rate,
            seed=self.plan.seed,
            progress=on_done,
            cancel=self.hooks.cancel,
        )
        figure = await asyncio.to_thread(power.stop) if power is not None else UNKNOWN_POWER
        return result, figure

    def make_run(self, concurrency: int, result: LoadResult, power: PowerFigure) -> BenchRun:
        metrics = compute_metrics(result.samples, result.duration_s, self.plan.slo)
        share, share_source = prefill_share(result.samples, result.duration_s)
        limit = None
        if self.hooks.limit is not None and metrics.completed:
            prompt_tokens = metrics.total_input_tokens / metrics.completed
            answer = metrics.total_output_tokens / metrics.completed
            limit = self.hooks.limit.for_run(concurrency, prompt_tokens + answer / 2)
        return BenchRun(
            group_id=self.group,
            created_at=time.time(),
            label=self.target.model,
            target=target_dict(self.target),
            concurrency=concurrency,
            request_rate=self.plan.request_rate,
            prompts=self.prompts.params,
            metrics=metrics,
            context=self.context,
            power=with_idle_time(power, result.samples, result.duration_s),
            decode_limit=limit,
            prefill={"share": share, "source": share_source},
            samples=result.samples,
        )


async def run_sweep(
    target: Target,
    plan: BenchPlan,
    prompts: PromptSet,
    context: dict[str, Any],
    hooks: SweepHooks | None = None,
) -> list[BenchRun]:
    """Every concurrency level in turn; each stored as soon as it is measured."""
    sweep = _Sweep(target, plan, prompts, context, hooks or SweepHooks())
    runs = []
    for level, concurrency in enumerate(plan.concurrencies, start=1):
        result, power = await sweep.measure(level, concurrency)
        run = sweep.make_run(concurrency, result, power)
        if sweep.hooks.runs is not None:
            run = replace(run, id=sweep.hooks.runs.add(run))
        runs.append(run)
        sweep.report(level, concurrency, len(result.samples), run.metrics.failed, run)
    return runs


def target_dict(target: Target) -> dict[str, Any]:
    """How the run's target is stored: no API key, only whether one was sent."""
    return {
        "kind": target.kind,
        "base_url": target.base_url,
        "model": target.model,
        "authenticated": target.api_key is not None,
        "force_length": target.force_length,
    }


def run_sweep_blocking(
    target: Target,
    plan: BenchPlan,
    prompts: PromptSet,
    context: dict[str, Any],
    hooks: SweepHooks | None = None,
) -> tuple[list[StreamSample], list[BenchRun]]:
    """Warm up, then sweep; for threads and the CLI. Returns (warm-up samples, runs)."""

    async def main() -> tuple[list[StreamSample], list[BenchRun]]:
        warm = await warm_up(target, prompts, plan.warmup)
        if any(not s.ok for s in warm):
            return warm, []
        return warm, await run_sweep(target, plan, prompts, context, hooks)

    return asyncio.run(main())


def failed_warmup(samples: Sequence[StreamSample]) -> str | None:
    """The error of the first failed warm-up request, or None."""
    return next((s.error or "failed" for s in samples if not s.ok), None)
