"""The trade-off curve for every front end: stored sweeps priced with the cost settings in
force (bench.curve), and `--vary NAME=V1,V2`: one engine setting launched at each value.

A varied setting must be an option of the engine `hostbench launch` starts by default
(llama.cpp), checked by its own options model before anything starts, so a typo is a usage
error rather than a server that fails to launch halfway through the sweeps.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from pydantic import ValidationError

from bench.cost import CostInputs
from bench.curve import CheaperFrom, Curve, build_curves, cheaper_from
from bench.errors import BenchUsageError
from bench.power import fallback_power, with_current_setting
from bench.prices import (
    HostedOffers,
    HostedPrice,
    PriceTable,
    load_price_table,
    price_keys,
    user_table_path,
)
from bench.runs import SERIES_KEY, BenchRun
from engines.registry import load_engine
from hardware import MachineSnapshot
from profiles import CostDefaults, Locations, Settings
from profiles.profile import DEFAULT_ENGINE
from workflows.bench_context import cost_inputs
from workflows.benchmarking import PreparedBench, effective_cost


class VaryError(BenchUsageError):
    """A --vary that names no option of the engine, or a value the option refuses."""


@dataclass(frozen=True)
class Vary:
    """One engine option and the values to launch it with, in the order given."""

    name: str
    values: tuple[str, ...]
    id: str = field(default_factory=lambda: uuid.uuid4().hex, compare=False)
    """Stored with every sweep of this invocation, so they are drawn together later."""

    def series(self, value: str) -> str:
        return f"{self.name}={value}"

    def tag(self, prepared: PreparedBench, value: str) -> PreparedBench:
        """`prepared` with the series of `value` in the context each of its runs stores
        (the Compare screen draws every sweep of the newest --vary from it)."""
        series = {"name": self.series(value), "vary": self.id}
        return replace(prepared, context={**prepared.context, SERIES_KEY: series})

    def launch_flags(self, value: str) -> list[str]:
        """`hostbench launch` flags setting the option to `value`."""
        flag = "--" + self.name.replace("_", "-")
        if value.lower() in ("true", "false"):
            return [flag if value.lower() == "true" else f"--no-{flag[2:]}"]
        return [flag, value]


def parse_vary(text: str, engine: str = DEFAULT_ENGINE) -> Vary:
    """`parallel=2,4,8` -> Vary("parallel", ("2", "4", "8")), each value checked by the
    engine's options model."""
    name, sep, values = text.partition("=")
    name = name.strip().replace("-", "_")
    if not sep:
        raise VaryError(f"--vary: {text!r} needs NAME=V1,V2, e.g. parallel=2,4,8")
    options = load_engine(engine).Options
    if name not in options.model_fields:
        known = ", ".join(sorted(n.replace("_", "-") for n in options.model_fields))
        raise VaryError(f"--vary: {name!r} is not a {engine} option; one of: {known}")
    parts = tuple(v.strip() for v in values.split(",") if v.strip())
    if not parts:
        raise VaryError(f"--vary: {name} needs values, e.g. {name}=2,4")
    for value in parts:
        try:
            options.model_validate({name: value}, strict=False)
        except ValidationError as error:
            why = error.errors()[0]["msg"].removeprefix("Value error, ")
            raise VaryError(f"--vary: {name}={value} is refused by {engine}: {why}") from None
    return Vary(name, parts)


def machine_hour(cost: CostDefaults, snapshot: MachineSnapshot | None) -> CostInputs:
    """What this machine's hour is made of before any bench: the cost settings, with the
    power setting or the GPUs' board power (nothing has been measured yet)."""
    return cost_inputs(cost, fallback_power(snapshot, cost.power_w))


def sweep_curves(
    series: Sequence[tuple[str, Sequence[BenchRun]]], cost: CostDefaults
) -> list[Curve]:
    """Each series' runs as a curve, every point priced with the settings in force and
    the run's own power figure (a measurement stands; else today's setting)."""

    def inputs_for(run: BenchRun) -> CostInputs:
        return cost_inputs(cost, with_current_setting(run.power, cost.power_w))

    return build_curves(series, inputs_for)


def hosted_offers(locations: Locations, catalog_id: str | None) -> list[HostedPrice]:
    """Hosted copies of the model, then the frontier APIs, from the dated price table."""
    return _offers(load_price_table(user_table_path(locations.data_dir)), catalog_id)


def _offers(table: PriceTable, catalog_id: str | None) -> list[HostedPrice]:
    offers = HostedOffers.load()
    return price_keys(table, dict.fromkeys((*offers.copies_of(catalog_id), *offers.frontier)))


@dataclass(frozen=True)
class BeforeBench:
    """What the Compare screen can say before any local bench: the hosted offers, and
    what an hour of this machine costs (so the rate a bench must reach to beat each)."""

    hour: CostInputs
    offers: tuple[HostedPrice, ...]
    prices: str
    """The price table's source and date."""

    @property
    def usd_per_hour(self) -> float:
        return self.hour.fixed_usd_per_hour() + (self.hour.electricity_usd_per_hour() or 0.0)


def before_bench(
    settings: Settings, locations: Locations, snapshot: MachineSnapshot | None
) -> BeforeBench:
    cost = effective_cost(settings, locations, snapshot=snapshot).cost
    table = load_price_table(user_table_path(locations.data_dir))
    source = f"{table.source}, retrieved {table.retrieved}"
    return BeforeBench(machine_hour(cost, snapshot), tuple(_offers(table, None)), source)


def cheaper_than(curves: Sequence[Curve], prices: Sequence[HostedPrice]) -> list[CheaperFrom]:
    """For each offer, the least load on any curve at which an output token costs less here."""
    points = [point for curve in curves for point in curve.points]
    return [cheaper_from(points, price.key, price.output_usd_per_mtok) for price in prices]
