"""Benchmark and compare, in one call each, for every front end (CLI, TUI workers).

- `prepare_local` / `prepare_endpoint`: the target, stored context, tokenizer and decode
  bound inputs for a model our server runs, or for any OpenAI-compatible endpoint;
- `run_bench`: prompts, warm-up, the concurrency sweep, power, storage; blocking, with
  `progress` (SweepProgress) and a threading.Event to cancel, as a thread worker wants;
- `build_comparison`: this machine's newest stored run next to hosted prices;
- `live_cost`: what the tokens served right now cost, for a dashboard.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from bench.comparison import Comparison, compare
from bench.cost import token_cost
from bench.errors import BenchNotFoundError, BenchUnavailableError, BenchUsageError
from bench.limits import LimitInputs
from bench.load import Target
from bench.power import PowerFigure, PowerMeter, power_over, with_current_setting
from bench.prices import HostedOffers, load_price_table, user_table_path
from bench.prompts import (
    LlamaCppTokenizer,
    PromptSet,
    Tokenizer,
    approximate_prompts,
    file_prompts,
    synthetic_prompts,
)
from bench.runs import BenchRun, BenchRuns
from bench.session import BenchPlan, SweepHooks, SweepProgress, failed_warmup, run_sweep_blocking
from catalog import LocalModels
from control.api import EngineStatus
from control.channel import engine_headers
from hardware import MachineSnapshot, discover
from profiles import CostDefaults, Locations, Settings
from storage import Store
from workflows.bench_context import (
    cost_inputs,
    engine_context,
    engine_version,
    limit_inputs,
    local_target,
    model_reads,
    run_context,
)


@dataclass(frozen=True)
class EffectiveCost:
    """The cost figures in force: config.toml's [cost], then the launch profile's [cost]."""

    cost: CostDefaults
    profile: str | None
    """The profile whose [cost] was applied (None: it set none)."""


@dataclass(frozen=True)
class LiveCost:
    """The machine's hour over the output tokens it made in that hour, at the current
    traffic: prompts and idle time included, so no utilization is applied on top."""

    usd_per_mtok_output: float | None
    """None: no tokens in the window, or no cost basis (no power figure, no price)."""
    output_tokens_per_s: float
    basis: str
    """rental | amortized | electricity | none (bench.cost.CostInputs.basis)"""
    power: PowerFigure


def live_cost(
    cost: CostDefaults, telemetry: Sequence[MachineSnapshot], output_tokens_per_s: float
) -> LiveCost:
    """$/1M output tokens from the cost settings, the power over the sampler's window
    (measured where a counter moved) and the output rate of every model together."""
    power = power_over(telemetry, cost.power_w)
    inputs = replace(cost_inputs(cost, power), utilization=1.0)
    figure = None
    if output_tokens_per_s > 0:
        figure = token_cost(inputs, output_tokens_per_s).usd_per_mtok
    return LiveCost(figure, output_tokens_per_s, inputs.basis, power)


def effective_cost(
    settings: Settings,
    locations: Locations,
    profile: str | None = None,
    snapshot: MachineSnapshot | None = None,
) -> EffectiveCost:
    """`profile` (None: the one matching this machine) overrides the configured defaults
    with every cost figure it sets."""
    from profiles.library import ProfileLibrary
    from profiles.planning import user_profiles_dir

    library = ProfileLibrary.load(user_profiles_dir(locations))
    resolved = library.resolve(profile, snapshot or discover(locations.models_dir))
    overrides = resolved.cost.model_dump(exclude_none=True)
    merged = settings.cost.model_copy(update=overrides)
    return EffectiveCost(merged, resolved.name if overrides else None)


@dataclass(frozen=True)
class PromptSpec:
    """Which prompts to send: synthetic of exact lengths, or a JSONL file."""

    input_len: int = 128
    output_len: int = 64
    num_prompts: int | None = None
    """Default: 4 x the highest concurrency, at least 16 (a file: one pass)."""
    file: Path | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if min(self.input_len, self.output_len, self.num_prompts or 1) < 1:
            raise BenchUsageError("input length, output length and prompt count must be >= 1")


@dataclass(frozen=True)
class PreparedBench:
    target: Target
    context: dict[str, Any]
    tokenizer: Tokenizer | None
    limit: LimitInputs | None = None


def prepare_local(
    settings: Settings,
    locations: Locations,
    store: Store,
    status: EngineStatus,
    base_url: str,
) -> PreparedBench:
    """A model our server runs, from its engine status (GET /api/engines, launch --json).
    Prompts are sized with the GGUF file's tokenizer; an engine that loads a checkpoint
    itself (vLLM: a Hugging Face repo id) has none here, so lengths are approximate."""
    path = Path(status.model_path)
    tokenizer = LlamaCppTokenizer(path) if path.is_file() else None
    reads = model_reads(status)  # one read of the model's headers for both
    version = engine_version(status, engine_headers(locations.token_file))
    engine = engine_context(status, LocalModels(store), version, reads)
    snapshot = discover(locations.models_dir)
    eos = tokenizer.eos_token_id() if tokenizer else None
    return PreparedBench(
        target=local_target(base_url, status, eos),
        context=run_context(snapshot, engine),
        tokenizer=tokenizer,
        limit=limit_inputs(status, snapshot, settings.cost, reads),
    )


def prepare_endpoint(
    base_url: str, model: str, api_key: str | None = None, tokenizer_path: Path | None = None
) -> PreparedBench:
    """Any OpenAI-compatible API; without a tokenizer, prompt lengths are approximate."""
    base_url = base_url.rstrip("/")
    openai = urlparse(base_url).hostname == "api.openai.com"
    field = "max_completion_tokens" if openai else "max_tokens"
    target = Target(base_url, model, api_key=api_key, kind="endpoint", max_tokens_field=field)
    tokenizer = LlamaCppTokenizer(tokenizer_path) if tokenizer_path else None
    return PreparedBench(target, run_context(discover(), None), tokenizer)


def make_prompts(spec: PromptSpec, plan: BenchPlan, tokenizer: Tokenizer | None) -> PromptSet:
    if spec.file is not None:
        return file_prompts(spec.file, spec.num_prompts, spec.output_len, tokenizer)
    count = spec.num_prompts or max(16, 4 * max(plan.concurrencies))
    sizes = {"levels": len(plan.concurrencies), "warmup": plan.warmup}
    if tokenizer is None:
        return approximate_prompts(count, spec.input_len, spec.output_len, spec.seed, **sizes)
    return synthetic_prompts(tokenizer, count, spec.input_len, spec.output_len, spec.seed, **sizes)


def run_bench(
    prepared: PreparedBench,
    plan: BenchPlan,
    prompts: PromptSet,
    store: Store,
    cost: CostDefaults,
    *,
    progress: Callable[[SweepProgress], object] | None = None,
    cancel: threading.Event | None = None,
) -> list[BenchRun]:
    """Warm up, sweep the concurrencies, store each level; blocking. `cost.power_w` is
    the power figure where no energy counter is readable (see `effective_cost`)."""
    meter = PowerMeter(cost.power_w)
    hooks = SweepHooks(meter, BenchRuns(store), prepared.limit, progress, cancel)
    try:
        warm, runs = run_sweep_blocking(prepared.target, plan, prompts, prepared.context, hooks)
    finally:
        meter.close()
    if (error := failed_warmup(warm)) is not None:
        raise BenchUnavailableError(f"the warm-up request failed: {error}")
    return runs


def pick_run(runs: BenchRuns, model: str | None, concurrency: int | None) -> BenchRun:
    """The newest run at `concurrency`, or the newest sweep's highest output throughput."""
    if concurrency is not None:
        found = [
            r
            for r in runs.recent(label=model, kind="hostbench", limit=500)
            if r.concurrency == concurrency and r.metrics.completed
        ]
    else:
        found = [r for r in runs.newest_group(label=model, kind="hostbench") if r.metrics.completed]
        found.sort(key=lambda r: r.metrics.output_throughput, reverse=True)
    if not found:
        at = f" at concurrency {concurrency}" if concurrency else ""
        raise BenchNotFoundError(
            f"no stored bench run of {model or 'any model'}{at} on this machine; run "
            f"`hostbench bench {model or 'MODEL'} --concurrency 1,4,8` first"
        )
    return runs.get(found[0].id or 0, with_samples=False)


def build_comparison(
    settings: Settings,
    locations: Locations,
    store: Store,
    model: str | None = None,
    *,
    concurrency: int | None = None,
    extra_keys: Sequence[str] = (),
    profile: str | None = None,
    snapshot: MachineSnapshot | None = None,
) -> tuple[Comparison, str]:
    """The comparison for the chosen run, and the price table's source line. Cost figures:
    config.toml's [cost] under the launch profile's (`profile`, default: the one matching
    `snapshot`, a hardware reading the caller has; else this machine is read)."""
    runs = BenchRuns(store)
    chosen = pick_run(runs, model, concurrency)
    effective = effective_cost(settings, locations, profile, snapshot)
    cost = effective.cost
    power = with_current_setting(chosen.power, cost.power_w)
    table = load_price_table(user_table_path(locations.data_dir))
    comparison = compare(
        chosen,
        cost_inputs(cost, power),
        table,
        HostedOffers.load(),
        endpoint_runs=runs.recent(kind="endpoint", limit=500),
        extra_keys=extra_keys,
    )
    if effective.profile is not None:
        note = f"cost figures: config [cost] under launch profile {effective.profile!r}"
        comparison = replace(comparison, notes=(*comparison.notes, note))
    return comparison, f"{table.source}, retrieved {table.retrieved} ({table.path})"
