"""The tuner's search: coordinate descent from the default launch, one setting at a time.

Each candidate is measured right after the incumbent (the best so far), in the same run,
so both see the same machine; it replaces the incumbent only if it is faster than it by
more than the noise at one load and not slower by more than the noise at the other. The
noise is measured, not assumed: the default is measured twice before anything else, and
every configuration measured more than once adds its spread (the largest spread seen,
relative to the median, with a floor of `MIN_NOISE`).

Tokens per second decide, but not at any price in latency: a candidate whose first token
comes more than `TTFT_LIMIT` times later than the incumbent's at some load is not kept.

When the search has changed anything, the default and the best are measured once more,
one after the other, and the best is kept only if in that pair it still beats the default
as a candidate must (the `confirm` trial): a chain of small wins during a minute when the
machine sped up does not become the launch profile. Pairs, not medians over the whole run,
because a shared machine's speed drifts during a run. The descent leaves room in the
budget for that step.

The search knows nothing about engines: `measure` starts whatever it is given and returns
a Reading, so tests replay recorded measurement sequences through it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from statistics import median
from typing import Any

Options = Mapping[str, Any]
MIN_NOISE = 0.02
"""Below a 2 % difference two configurations are the same, however quiet the machine."""
TTFT_LIMIT = 1.5
"""How much later a candidate's first token (TTFT p50) may come than the incumbent's. Fewer
slots than streams gain a few tokens per second and queue the rest: 4 slots for 8 streams
on the 2-core VM measured +2 % tok/s and TTFT p50 1.82 s against 0.55 s with 8 slots
(docs/benchmarks.md, "Slots chosen for the load")."""
CONFIRM = "confirm"
"""The last trial's setting: the best against the default, each measured once more."""


@dataclass(frozen=True)
class Setting:
    """One knob: the option changes to try against the incumbent, in order."""

    name: str
    changes: tuple[Mapping[str, Any], ...]


@dataclass(frozen=True)
class Reading:
    """One configuration measured once: output tok/s and TTFT p50 per stream count."""

    tok_s: Mapping[int, float]
    ttft_p50_ms: Mapping[int, float | None] = field(default_factory=dict)
    error: str | None = None
    """The configuration failed (did not start, or requests failed): it never wins."""


@dataclass(frozen=True)
class Trial:
    setting: str
    change: Mapping[str, Any]
    incumbent: Reading
    candidate: Reading
    noise: Mapping[int, float]
    kept: bool
    why: str


@dataclass
class Budget:
    """Seconds the search may spend, on an injectable clock."""

    seconds: float
    clock: Callable[[], float] = time.monotonic
    started: float = field(init=False)

    def __post_init__(self) -> None:
        self.started = self.clock()

    @property
    def elapsed_s(self) -> float:
        return self.clock() - self.started

    @property
    def left_s(self) -> float:
        return max(0.0, self.seconds - self.elapsed_s)


@dataclass(frozen=True)
class Step:
    """Progress: what the search is doing, how far it is, how long is left."""

    doing: str
    done: int
    total: int
    elapsed_s: float
    left_s: float
    phase: str | None = None
    """Within a measurement: `starting the engine`, `8 streams`...; None at its start."""


@dataclass
class SearchResult:
    start: dict[str, Any]
    best: dict[str, Any]
    readings: dict[str, list[Reading]]
    """Every reading, by configuration (`key_of`)."""
    trials: list[Trial] = field(default_factory=list)
    stopped: str | None = None
    """Why the search ended early (budget, a failed default); None: every setting tried."""

    def summary(self, options: Options) -> Reading:
        """The median of every reading of `options` (the default, the best)."""
        found = [r for r in self.readings.get(key_of(options), []) if r.error is None]
        loads = sorted({n for r in found for n in r.tok_s})
        return Reading(
            {n: median(r.tok_s[n] for r in found if n in r.tok_s) for n in loads},
            {n: _median_or_none([r.ttft_p50_ms.get(n) for r in found]) for n in loads},
        )


Measure = Callable[[Options], Awaitable[Reading]]
Report = Callable[[Step], None]


def key_of(options: Options) -> str:
    return repr(sorted(options.items()))


def relative_spread(values: Sequence[float]) -> float:
    """(max - min) / median: 0 for one value."""
    if len(values) < 2 or median(values) <= 0:
        return 0.0
    return (max(values) - min(values)) / median(values)


def noise_of(readings: Mapping[str, Sequence[Reading]], loads: Sequence[int]) -> dict[int, float]:
    """The largest relative spread of any configuration measured more than once, per load."""
    noise = dict.fromkeys(loads, MIN_NOISE)
    for found in readings.values():
        good = [r for r in found if r.error is None]
        for n in loads:
            spread = relative_spread([r.tok_s[n] for r in good if n in r.tok_s])
            noise[n] = max(noise[n], spread)
    return noise


def verdict(candidate: Reading, incumbent: Reading, noise: Mapping[int, float]) -> tuple[bool, str]:
    """Keep the candidate only when it beats the incumbent beyond the noise somewhere and
    loses beyond it nowhere."""
    if candidate.error is not None:
        return False, f"failed: {candidate.error}"
    if incumbent.error is not None:
        return False, f"the incumbent failed in this round: {incumbent.error}"
    gains = {n: _gain(candidate.tok_s.get(n), incumbent.tok_s.get(n)) for n in noise}
    text = ", ".join(f"{n}x {g:+.0%} (noise {noise[n]:.0%})" for n, g in gains.items())
    if any(g < -noise[n] for n, g in gains.items()):
        return False, f"slower: {text}"
    if later := _later_first_token(candidate, incumbent):
        return False, f"first token later: {later}; {text}"
    if any(g > noise[n] for n, g in gains.items()):
        return True, f"faster: {text}"
    return False, f"within noise: {text}"


def _later_first_token(candidate: Reading, incumbent: Reading) -> str | None:
    """`8x TTFT p50 550 -> 1823 ms` where the candidate's first token comes more than
    TTFT_LIMIT times later than the incumbent's; None where it does nowhere."""
    for n, new in candidate.ttft_p50_ms.items():
        old = incumbent.ttft_p50_ms.get(n)
        if new is not None and old and new > TTFT_LIMIT * old:
            return f"{n}x TTFT p50 {old:.0f} -> {new:.0f} ms"
    return None


def _gain(new: float | None, old: float | None) -> float:
    if new is None or old is None or old <= 0:
        return -math.inf if not new else math.inf
    return new / old - 1


def _median_or_none(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return median(present) if present else None


class OutOfTime(Exception):
    """A measurement was stopped because the budget ran out; its trial is dropped."""


@dataclass
class Descent:
    """One pass of coordinate descent over `settings`, within `budget`."""

    measure: Measure
    budget: Budget
    loads: tuple[int, ...]
    report: Report = lambda step: None
    durations_s: list[float] = field(default_factory=list)
    done: int = 0
    total: int = 0

    async def run(self, start: Options, settings: Sequence[Setting]) -> SearchResult:
        result = SearchResult(dict(start), dict(start), {})
        self.total = 4 + 2 * sum(len(s.changes) for s in settings)
        try:
            if not await self._defaults(result):
                result.stopped = _ran_out(settings, self.budget, "after one measurement")
                return result
            result.stopped = await self._descend(result, settings)
            await self._confirm(result)
        except OutOfTime:
            result.stopped = f"the budget ({self.budget.seconds:.0f} s) ran out mid-measurement"
        return result

    async def _descend(self, result: SearchResult, settings: Sequence[Setting]) -> str | None:
        """Every setting's trials in turn; why it stopped early, or None."""
        for index, setting in enumerate(settings):
            for change in setting.changes:
                if not self._affords(2 + 2):  # the trial, and room to confirm after it
                    return _ran_out(settings[index:], self.budget)
                await self._trial(result, setting, change)
        return None

    async def _confirm(self, result: SearchResult) -> None:
        """The best against the default once more, measured as a pair; the default again
        where the best does not hold up."""
        change = {k: v for k, v in result.best.items() if result.start.get(k) != v}
        if not change:
            return
        default = await self._measure(result, result.start, f"{CONFIRM}: the default")
        best = await self._measure(result, result.best, f"{CONFIRM}: the tuned settings")
        noise = noise_of(result.readings, self.loads)
        kept, why = verdict(best, default, noise)
        result.trials.append(Trial(CONFIRM, change, default, best, noise, kept, why))
        if not kept:
            result.best = dict(result.start)

    async def _defaults(self, result: SearchResult) -> bool:
        """Measure the default twice (its spread is the first noise figure); False when
        the budget has room for one measurement only."""
        readings: list[Reading] = []
        for round_ in (1, 2):
            if round_ == 2 and not self._affords(1):
                break
            doing = f"measuring the default ({round_} of 2)"
            readings.append(await self._measure(result, result.start, doing))
        if all(r.error for r in readings):
            raise DefaultFailed(f"the default launch failed: {readings[0].error}")
        return len(readings) == 2

    async def _trial(self, result: SearchResult, setting: Setting, change: Options) -> None:
        candidate_options = {**result.best, **change}
        label = ", ".join(f"{k}={v}" for k, v in change.items())
        incumbent = await self._measure(result, result.best, f"{setting.name}: incumbent")
        candidate = await self._measure(result, candidate_options, f"{setting.name}: {label}")
        noise = noise_of(result.readings, self.loads)
        kept, why = verdict(candidate, incumbent, noise)
        result.trials.append(
            Trial(setting.name, dict(change), incumbent, candidate, noise, kept, why)
        )
        if kept:
            result.best = candidate_options

    async def _measure(self, result: SearchResult, options: Options, doing: str) -> Reading:
        budget = self.budget
        self.report(Step(doing, self.done, self.total, budget.elapsed_s, budget.left_s))
        began = budget.clock()
        reading = await self.measure(options)
        self.durations_s.append(budget.clock() - began)
        self.done += 1
        result.readings.setdefault(key_of(options), []).append(reading)
        return reading

    def _affords(self, measurements: int) -> bool:
        """Whether `measurements` more fit in the time left, at the pace so far."""
        if not self.durations_s:
            return self.budget.left_s > 0
        pace = sum(self.durations_s) / len(self.durations_s)
        return pace * measurements <= self.budget.left_s


class DefaultFailed(Exception):
    """The default launch could not be measured: there is nothing to tune against."""


def _ran_out(untried: Sequence[Setting], budget: Budget, when: str = "") -> str:
    names = ", ".join(s.name for s in untried) or "nothing"
    pace = f" {when} of the default" if when else ""
    return f"the budget ({budget.seconds:.0f} s) ran out{pace} before: {names}"
