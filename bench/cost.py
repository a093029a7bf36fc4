"""What a token costs on this machine (docs/architecture.md, "Cost"), and when
self-hosting pays off.

- rented or amortized hardware: `usd_per_hour / (tokens_per_s x 3600) x 1e6`, divided by
  utilization (an idle hour costs the same as a busy one);
- electricity: `watts / 1000 x usd_per_kwh / (tokens_per_s x 3600) x 1e6`.

The machine's time is split between input and output tokens by the share spent on prompts
(bench.metrics.prefill_share), and `tokens_per_s` is each kind's rate over its share: the
hour is charged once, so `input x $in + output x $out` is what the run really cost.
A rental includes its power; bought hardware adds electricity to its amortization.
Energy per token, with its basis and the share attributed to serving, is bench.energy's.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from bench.energy import EnergyFigure, energy_per_output, given_power, wh_per_mtok
from bench.power import PowerFigure

HOURS_PER_MONTH = 365 * 24 / 12


def usd_per_mtok(usd_per_hour: float, tokens_per_s: float, utilization: float = 1.0) -> float:
    """Dollars per million tokens from an hourly price and a rate."""
    if tokens_per_s <= 0 or utilization <= 0:
        return math.inf
    return usd_per_hour / (tokens_per_s * 3600.0) * 1e6 / utilization


def electricity_usd_per_hour(watts: float, usd_per_kwh: float) -> float:
    return watts / 1000.0 * usd_per_kwh


def electricity_usd_per_mtok(watts: float, usd_per_kwh: float, tokens_per_s: float) -> float:
    return usd_per_mtok(electricity_usd_per_hour(watts, usd_per_kwh), tokens_per_s)


def amortized_usd_per_hour(hardware_usd: float, months: float) -> float:
    """Purchase price spread over every hour of the amortization period (730 h a month)."""
    return hardware_usd / (months * HOURS_PER_MONTH)


@dataclass(frozen=True)
class CostInputs:
    """The user's cost settings and the run's power figure (all shown with the result)."""

    electricity_usd_per_kwh: float | None = None
    rental_usd_per_hour: float | None = None
    hardware_usd: float | None = None
    amortization_months: float = 36.0
    utilization: float = 1.0
    watts: float | None = None
    watts_source: str = "unknown"
    power: PowerFigure | None = None
    """The whole figure `watts` came from, where the caller has it: its basis and idle
    readings give the energy's serving share (bench.energy). Without it, the energy
    figure rests on `watts` and `watts_source` alone."""

    def power_figure(self) -> PowerFigure:
        """What the energy figure rests on: the whole power figure where it came along,
        else one rebuilt from the watts and their source (no idle readings in it)."""
        return self.power or given_power(self.watts, self.watts_source)

    @property
    def basis(self) -> str:
        """rental | amortized | electricity | none: what the hourly cost is made of."""
        if self.rental_usd_per_hour is not None:
            return "rental"
        if self.hardware_usd is not None:
            return "amortized"
        return "electricity" if self._electricity_known else "none"

    @property
    def _electricity_known(self) -> bool:
        return self.watts is not None and self.electricity_usd_per_kwh is not None

    def fixed_usd_per_hour(self) -> float:
        """Paid whether or not tokens are made: the rent, or the purchase amortized."""
        if self.rental_usd_per_hour is not None:
            return self.rental_usd_per_hour
        if self.hardware_usd is not None:
            return amortized_usd_per_hour(self.hardware_usd, self.amortization_months)
        return 0.0

    def electricity_usd_per_hour(self) -> float | None:
        """Power bought while running; None for a rental (its price includes power)."""
        if self.rental_usd_per_hour is not None or not self._electricity_known:
            return None
        return electricity_usd_per_hour(self.watts or 0.0, self.electricity_usd_per_kwh or 0.0)


@dataclass(frozen=True)
class TokenCost:
    """$/1M tokens of one kind, split into its parts."""

    usd_per_mtok: float | None
    fixed_usd_per_mtok: float | None
    electricity_usd_per_mtok: float | None
    tokens_per_s: float
    """The rate over this kind's share of machine time (the formula's tokens_per_s)."""


@dataclass(frozen=True)
class RunCost:
    basis: str
    output: TokenCost
    input: TokenCost
    prefill_share: float
    wh_per_mtok_output: float | None
    wh_per_mtok_total: float | None
    inputs: CostInputs
    energy: EnergyFigure | None = None
    """Wh per 1M output tokens with its basis, serving share, or why not available."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def token_cost(inputs: CostInputs, tokens_per_s: float) -> TokenCost:
    fixed_hourly = inputs.fixed_usd_per_hour()
    fixed = usd_per_mtok(fixed_hourly, tokens_per_s, inputs.utilization) if fixed_hourly else None
    power_hourly = inputs.electricity_usd_per_hour()
    power = usd_per_mtok(power_hourly, tokens_per_s) if power_hourly is not None else None
    parts = [p for p in (fixed, power) if p is not None]
    return TokenCost(sum(parts) if parts else None, fixed, power, tokens_per_s)


def run_cost(
    inputs: CostInputs,
    output_tokens_per_s: float,
    input_tokens_per_s: float,
    prefill_share: float,
) -> RunCost:
    """$/1M output and input tokens from a run's throughputs (over its whole wall time)."""
    share = min(max(prefill_share, 0.0), 1.0) if math.isfinite(prefill_share) else 0.0
    out_rate = output_tokens_per_s / (1.0 - share) if share < 1 else math.inf
    in_rate = input_tokens_per_s / share if share > 0 else math.inf
    total_rate = output_tokens_per_s + input_tokens_per_s
    watts = inputs.watts
    return RunCost(
        basis=inputs.basis,
        output=token_cost(inputs, out_rate),
        input=token_cost(inputs, in_rate),
        prefill_share=share,
        wh_per_mtok_output=wh_per_mtok(watts, output_tokens_per_s) if watts is not None else None,
        wh_per_mtok_total=wh_per_mtok(watts, total_rate) if watts is not None else None,
        inputs=inputs,
        energy=energy_per_output(inputs.power_figure(), output_tokens_per_s),
    )


@dataclass(frozen=True)
class BreakEven:
    """Output tokens per day above which this machine is cheaper than a hosted offer."""

    tokens_per_day: float | None
    """None: never (the hosted price is at or below what a token costs here to run)."""
    capacity_tokens_per_day: float
    """What the machine can make in a day at the measured rate."""
    fixed_usd_per_day: float
    self_variable_usd_per_mtok: float
    hosted_usd_per_mtok: float
    """The hosted price per 1M output tokens with the run's input tokens included."""

    @property
    def within_capacity(self) -> bool:
        return (
            self.tokens_per_day is not None and self.tokens_per_day <= self.capacity_tokens_per_day
        )


def blended_hosted_usd_per_mtok(
    output_price: float, input_price: float, input_per_output: float
) -> float:
    """A hosted bill per 1M output tokens when each output token comes with
    `input_per_output` input tokens (the benchmark's mix)."""
    return output_price + input_per_output * input_price


def break_even(
    inputs: CostInputs,
    output_tokens_per_s: float,
    hosted_usd_per_mtok: float,
) -> BreakEven:
    """fixed_per_day + V x c_self = V x c_hosted  ->  V = fixed_per_day / (c_hosted - c_self).

    Fixed: rent or amortization for 24 h. Variable: electricity per output token while
    running (bought hardware only). With no fixed cost, self-hosting is cheaper from the
    first token whenever it is cheaper per token."""
    fixed_per_day = inputs.fixed_usd_per_hour() * 24.0
    power_hourly = inputs.electricity_usd_per_hour() or 0.0
    variable = usd_per_mtok(power_hourly, output_tokens_per_s) if power_hourly else 0.0
    margin = hosted_usd_per_mtok - variable
    volume = None if margin <= 0 else fixed_per_day / margin * 1e6
    capacity = output_tokens_per_s * 86400.0
    return BreakEven(volume, capacity, fixed_per_day, variable, hosted_usd_per_mtok)


def tokens_per_s_to_match(usd_per_hour: float, hosted_usd_per_mtok: float) -> float | None:
    """The output rate at which an hour here costs what a hosted offer charges for the same
    tokens: `usd_per_hour / (hosted $/1M x 3600) x 1e6`. None: no hourly cost, or a free
    offer. What a bench has to reach before self-hosting can pay."""
    if usd_per_hour <= 0 or hosted_usd_per_mtok <= 0:
        return None
    return usd_per_hour / (hosted_usd_per_mtok * 3600.0) * 1e6
