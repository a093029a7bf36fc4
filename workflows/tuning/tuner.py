"""`hostbench tune MODEL`: find the llama.cpp settings that serve MODEL fastest here, for
one stream and for the concurrency asked for, within a time budget; store them as a tuned
profile that `hostbench launch MODEL` then uses (README "Tuning").

Blocking work happens on the event loop the caller runs `tune` on. Cancelling that task
(Ctrl-C in the CLI) stops the engine being measured before it returns; the budget stops
the search cooperatively and keeps the best found so far.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.errors import BenchUnavailableError, BenchUsageError
from bench.prompts import LlamaCppTokenizer, synthetic_prompts
from engines.supervisor import LaunchRequest
from hardware import MachineSnapshot, discover
from profiles import Locations, Settings
from profiles.planning import user_profiles_dir
from profiles.profile import AUTO
from profiles.tuned import TunedRecord, tuned_profile_name, write_tuned_profile
from storage import Store
from workflows.launching import Launcher, LaunchOrder
from workflows.tuning.identity import machine_identity
from workflows.tuning.knobs import Machine, plan_settings
from workflows.tuning.measure import EngineBench, Load
from workflows.tuning.search import (
    Budget,
    DefaultFailed,
    Descent,
    Reading,
    Report,
    SearchResult,
    Step,
    Trial,
    key_of,
)

STOP_S = 2.0
"""A measurement still running this long before the budget ends is stopped: stopping
the engine takes about that, so the whole run ends within its budget."""


@dataclass(frozen=True)
class TuneRequest:
    model: str
    concurrency: int = 8
    budget_s: float = 180.0
    only: tuple[str, ...] | None = None
    """Try only these settings (knobs.ORDER names); None: every one that applies."""
    input_len: int = 32
    output_len: int = 32

    def __post_init__(self) -> None:
        if not 2 <= self.concurrency <= 256:
            raise BenchUsageError("--concurrency must be between 2 and 256 streams")
        if self.budget_s <= 0:
            raise BenchUsageError("--budget must be a positive number of seconds")
        if min(self.input_len, self.output_len) < 1:
            raise BenchUsageError("--input-len and --output-len must be >= 1")


@dataclass(frozen=True)
class TuneOutcome:
    model: str
    loads: tuple[int, ...]
    result: SearchResult
    skipped: list[str]
    record: TunedRecord
    profile: str
    path: Path
    options: dict[str, Any]
    """What the tuned profile sets."""


async def tune(
    settings: Settings,
    locations: Locations,
    store: Store,
    request: TuneRequest,
    report: Report = lambda _step: None,
) -> TuneOutcome:
    budget = Budget(request.budget_s)
    launch = await asyncio.to_thread(_prepare, settings, locations, store, request.model)
    snapshot = discover(locations.models_dir)
    start = launch.options.model_dump(mode="json")
    to_try, skipped = _plan(start, snapshot, request)
    loads = (1, request.concurrency)
    cancel = threading.Event()
    measure = EngineBench(
        launch,
        snapshot,
        settings.engines,
        locations.logs_dir / "tune",
        await asyncio.to_thread(_load, launch, request),
        cancel,
    )
    stop_at = max(0.0, budget.left_s - STOP_S)
    progress = _Progress(report, budget)
    measure.phase = progress.phase
    watchdog = asyncio.get_running_loop().call_later(stop_at, cancel.set)
    try:
        result = await Descent(measure, budget, loads, progress.step).run(start, to_try)
    except DefaultFailed as error:
        raise BenchUnavailableError(f"cannot tune {request.model}: {error}") from None
    finally:
        watchdog.cancel()
    return _store(locations, request, launch, snapshot, result, skipped, budget)


@dataclass
class _Progress:
    """Steps of the search, and phases within a measurement as the last step plus a phase."""

    report: Report
    budget: Budget
    last: Step | None = None

    def step(self, step: Step) -> None:
        self.last = step
        self.report(step)

    def phase(self, text: str) -> None:
        if self.last is not None:
            budget = self.budget
            self.report(
                replace(self.last, elapsed_s=budget.elapsed_s, left_s=budget.left_s, phase=text)
            )


def _prepare(settings: Settings, locations: Locations, store: Store, model: str) -> LaunchRequest:
    """The default launch (the hardware profile, never an older tuned one)."""
    return Launcher(settings, locations, store).prepare(LaunchOrder(model, profile=AUTO))


def _plan(
    start: dict[str, Any], snapshot: MachineSnapshot, request: TuneRequest
) -> tuple[list[Any], list[str]]:
    cpu = snapshot.cpu
    physical = cpu.physical_cores or cpu.logical_cores or 1
    machine = Machine(physical, cpu.logical_cores or physical, len(snapshot.gpus))
    try:
        return plan_settings(start, machine, request.concurrency, request.only)
    except ValueError as error:
        raise BenchUsageError(f"--settings: {error}") from None


def _load(launch: LaunchRequest, request: TuneRequest) -> Load:
    """A short warm-up, two sequential prompts for one stream, N for N streams."""
    tokenizer = LlamaCppTokenizer(launch.model.path)
    count = 3 + request.concurrency
    made = synthetic_prompts(tokenizer, count, request.input_len, request.output_len).prompts
    loads = {1: made[1:3], request.concurrency: made[3:]}
    warmup = replace(made[0], max_tokens=min(4, request.output_len))
    return Load(warmup, loads, tokenizer.eos_token_id())


def _store(  # noqa: PLR0917 -- one private step of `tune`, called once
    locations: Locations,
    request: TuneRequest,
    launch: LaunchRequest,
    snapshot: MachineSnapshot,
    result: SearchResult,
    skipped: list[str],
    budget: Budget,
) -> TuneOutcome:
    loads = (1, request.concurrency)
    default, best = result.summary(result.start), result.summary(result.best)
    if not default.tok_s:
        raise BenchUnavailableError(
            f"the budget ({request.budget_s:.0f} s) ended before the default launch was "
            "measured once; give a larger --budget"
        )
    touched = {key for trial in result.trials for key in trial.change}
    options = {k: result.best[k] for k in sorted(touched) if result.best.get(k) is not None}
    record = TunedRecord(
        model=launch.model.id,
        names=sorted(
            {request.model.lower(), launch.model.id, launch.model.catalog_id or ""} - {""}
        ),
        date=datetime.now(UTC).isoformat(timespec="seconds"),
        identity=machine_identity(launch.adapter, snapshot),
        concurrency=request.concurrency,
        budget_s=request.budget_s,
        elapsed_s=round(budget.elapsed_s, 1),
        complete=result.stopped is None,
        default_tok_s=_by_load(default, loads),
        best_tok_s=_by_load(best, loads),
        skipped=[*skipped, *([result.stopped] if result.stopped else [])],
        trials=[*_default_rows(result), *(_trial_row(t) for t in result.trials)],
    )
    name = tuned_profile_name(launch.model.id)
    path = write_tuned_profile(user_profiles_dir(locations), name, options, record)
    return TuneOutcome(request.model, loads, result, skipped, record, name, path, options)


def _by_load(reading: Reading, loads: Sequence[int]) -> dict[str, float]:
    return {str(n): round(reading.tok_s[n], 2) for n in loads if n in reading.tok_s}


def _default_rows(result: SearchResult) -> list[dict[str, Any]]:
    return [
        {"setting": "default", "change": "", "tok_s": _rounded(r.tok_s), "error": r.error}
        for r in result.readings.get(key_of(result.start), [])[:2]
    ]


def _trial_row(trial: Trial) -> dict[str, Any]:
    return {
        "setting": trial.setting,
        "change": ", ".join(f"{k}={v}" for k, v in trial.change.items()),
        "kept": trial.kept,
        "why": trial.why,
        "incumbent_tok_s": _rounded(trial.incumbent.tok_s),
        "candidate_tok_s": _rounded(trial.candidate.tok_s),
        "candidate_ttft_p50_ms": _rounded(trial.candidate.ttft_p50_ms),
        "noise": {str(n): round(v, 4) for n, v in trial.noise.items()},
    }


def _rounded(values: Any) -> dict[str, float]:
    return {str(n): round(v, 2) for n, v in values.items() if v is not None}
