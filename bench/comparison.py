"""This machine against hosted APIs: cost per 1M tokens, speed, break-even volume.

Built from stored runs only: the newest local run at the chosen concurrency gives this
machine's figures; hosted prices come from the dated table; a hosted offer's latency is
shown only where the user benchmarked that endpoint (a stored `endpoint` run whose host and
model match the offer), otherwise it is "not measured". Every figure carries its source.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from bench.cost import (
    BreakEven,
    CostInputs,
    RunCost,
    blended_hosted_usd_per_mtok,
    break_even,
    run_cost,
)
from bench.prices import HostedOffers, HostedPrice, PriceTable, matches_offer, price_keys
from bench.runs import BenchRun


def day(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M")


@dataclass(frozen=True)
class LocalFigures:
    run_id: int | None
    created_at: float
    label: str
    concurrency: int
    output_tokens_per_s: float
    ttft_p50_ms: float
    decode_tokens_per_s: float
    decode_bound_tokens_per_s: float | None
    input_per_output: float
    """Input tokens per output token in the run (the mix hosted bills are blended with)."""
    cost: RunCost
    source: str


@dataclass(frozen=True)
class Measured:
    """A user's own benchmark of a hosted endpoint."""

    run_id: int | None
    ttft_p50_ms: float
    output_tokens_per_s: float
    concurrency: int
    source: str


@dataclass(frozen=True)
class HostedRow:
    price: HostedPrice
    group: str
    """same model | frontier | requested"""
    blended_usd_per_mtok: float
    break_even: BreakEven | None
    measured: Measured | None
    source: str


@dataclass(frozen=True)
class Comparison:
    local: LocalFigures
    hosted: tuple[HostedRow, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def local_figures(run: BenchRun, inputs: CostInputs) -> LocalFigures:
    m = run.metrics
    cost = run_cost(inputs, m.output_throughput, run.input_tokens_per_s, run.prefill_share)
    limit = run.decode_limit
    ratio = run.total_input_tokens / m.total_output_tokens if m.total_output_tokens else 0.0
    return LocalFigures(
        run_id=run.id,
        created_at=run.created_at,
        label=run.label,
        concurrency=run.concurrency,
        output_tokens_per_s=m.output_throughput,
        ttft_p50_ms=m.ttft_ms["p50"],
        decode_tokens_per_s=m.decode_tokens_per_s,
        decode_bound_tokens_per_s=limit.bound_tokens_per_s if limit else None,
        input_per_output=ratio,
        cost=cost,
        source=f"bench run {run.id}{_launched_with(run)} on this machine, {day(run.created_at)}",
    )


def _launched_with(run: BenchRun) -> str:
    """` (parallel=2)` for a run of `bench --vary`: which of its servers this was."""
    return f" ({run.series})" if run.series else ""


def measured_offer(price: HostedPrice, endpoint_runs: Sequence[BenchRun]) -> Measured | None:
    """The newest stored run against this offer's provider and model, if any."""
    for run in endpoint_runs:  # newest first
        base_url, model = str(run.target.get("base_url", "")), str(run.target.get("model", ""))
        if run.metrics.completed and matches_offer(price, base_url, model):
            return Measured(
                run.id,
                run.metrics.ttft_ms["p50"],
                run.metrics.output_throughput,
                run.concurrency,
                f"your bench run {run.id} against {base_url}, {day(run.created_at)}",
            )
    return None


def hosted_row(
    price: HostedPrice,
    group: str,
    local: LocalFigures,
    *,
    inputs: CostInputs,
    table: PriceTable,
    endpoint_runs: Sequence[BenchRun],
) -> HostedRow:
    blended = blended_hosted_usd_per_mtok(
        price.output_usd_per_mtok, price.input_usd_per_mtok, local.input_per_output
    )
    even = None
    if inputs.basis != "none":
        even = break_even(inputs, local.output_tokens_per_s, blended)
    return HostedRow(
        price=price,
        group=group,
        blended_usd_per_mtok=blended,
        break_even=even,
        measured=measured_offer(price, endpoint_runs),
        source=f"price table, retrieved {table.retrieved}",
    )


def compare(
    run: BenchRun,
    inputs: CostInputs,
    table: PriceTable,
    offers: HostedOffers,
    *,
    endpoint_runs: Sequence[BenchRun] = (),
    extra_keys: Sequence[str] = (),
) -> Comparison:
    """The side-by-side for one local run."""
    local = local_figures(run, inputs)
    groups = (
        ("same model", offers.copies_of(run.catalog_id)),
        ("frontier", offers.frontier),
        ("requested", tuple(extra_keys)),
    )
    rows, seen = [], set()
    for group, keys in groups:
        for price in price_keys(table, keys):
            if price.key not in seen:
                seen.add(price.key)
                rows.append(
                    hosted_row(
                        price, group, local, inputs=inputs, table=table, endpoint_runs=endpoint_runs
                    )
                )
    return Comparison(local, tuple(rows), tuple(_notes(run, inputs, offers, extra_keys, table)))


def _notes(
    run: BenchRun,
    inputs: CostInputs,
    offers: HostedOffers,
    extra_keys: Sequence[str],
    table: PriceTable,
) -> list[str]:
    notes = []
    if not offers.copies_of(run.catalog_id):
        notes.append(
            f"no hosted copy of {run.catalog_id or run.label} in the price table "
            f"(offers list of {offers.retrieved})"
        )
    missing = [k for k in extra_keys if table.get(k) is None]
    if missing:
        notes.append(f"not in the price table: {', '.join(missing)} (see `hostbench prices`)")
    if not run.input_tokens_counted:
        notes.append(_uncounted_input_note(run))
    if inputs.basis == "none":
        notes.append(
            "no cost for this machine: power unknown and no rental or purchase price set "
            "(settings [cost]: power_w, rental_usd_per_hour or hardware_usd)"
        )
    return notes


def _uncounted_input_note(run: BenchRun) -> str:
    """Said whenever the input figures do not come from the server's own count."""
    if run.total_input_tokens:
        return (
            f"input tokens: the server sent no usage, so the prompts' own length "
            f"({run.prompts.get('input_len')} tokens each, chat template not counted) stands in"
        )
    return (
        "input tokens unknown (the server sent no usage and the prompts have no set length): "
        "input price and the blended bill leave input out"
    )
