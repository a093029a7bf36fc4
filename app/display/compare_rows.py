"""This machine next to hosted offers, as rows and lines (`hostbench compare`, and the
workbench's Compare screen)."""

from __future__ import annotations

from typing import Any

from app.display.cost import cost_lines
from app.display.numbers import num, tokens, usd
from bench.comparison import Comparison, HostedRow
from bench.cost import BreakEven


def even_cell(even: BreakEven | None) -> str:
    if even is None:
        return "-"
    if even.tokens_per_day is None:
        return "never"
    if even.tokens_per_day == 0:
        return "from the first token"
    cell = f"{tokens(even.tokens_per_day)}/day"
    return cell if even.within_capacity else f"{cell} (> capacity)"


def local_row(comparison: Comparison) -> dict[str, Any]:
    local, cost = comparison.local, comparison.local.cost
    blended = None
    if cost.output.usd_per_mtok is not None and cost.input.usd_per_mtok is not None:
        blended = cost.output.usd_per_mtok + local.input_per_output * cost.input.usd_per_mtok
    return {
        "group": "this machine",
        "offer": local.label,
        "provider": f"conc {local.concurrency}",
        "$/1M in": usd(cost.input.usd_per_mtok),
        "$/1M out": usd(cost.output.usd_per_mtok),
        "$/1M out+in": usd(blended),
        "ttft p50": f"{num(local.ttft_p50_ms, 0)} ms",
        "out tok/s": num(local.output_tokens_per_s),
        "break-even out tok/day": "",
        "source": local.source,
    }


def hosted_cells(row: HostedRow) -> dict[str, Any]:
    price, measured = row.price, row.measured
    return {
        "group": row.group,
        "offer": price.key,
        "provider": price.provider
        + (f", deprecated {price.deprecation_date}" if price.deprecation_date else ""),
        "$/1M in": usd(price.input_usd_per_mtok),
        "$/1M out": usd(price.output_usd_per_mtok),
        "$/1M out+in": usd(row.blended_usd_per_mtok),
        "ttft p50": f"{num(measured.ttft_p50_ms, 0)} ms" if measured else "not measured",
        "out tok/s": num(measured.output_tokens_per_s) if measured else "not measured",
        "break-even out tok/day": even_cell(row.break_even),
        "source": measured.source if measured else row.source,
    }


def header_lines(comparison: Comparison) -> list[str]:
    local = comparison.local
    bound = ""
    if local.decode_bound_tokens_per_s:
        share = 100 * local.decode_tokens_per_s / local.decode_bound_tokens_per_s
        bound = f" (bound {num(local.decode_bound_tokens_per_s)} tok/s: {num(share, 0)} %)"
    return [
        f"this machine: {local.label}, {local.source}, concurrency {local.concurrency}",
        f"  {num(local.output_tokens_per_s)} output tok/s; decode {num(local.decode_tokens_per_s)} "
        f"tok/s per stream{bound}; TTFT p50 {num(local.ttft_p50_ms, 0)} ms",
        *(f"  {line}" for line in cost_lines(local.cost)),
    ]


def footer_lines(comparison: Comparison, prices: str) -> list[str]:
    local = comparison.local
    lines = [
        f"price table: {prices}",
        f"$/1M out+in: the bill per 1M output tokens with the run's "
        f"{local.input_per_output:.2f} input tokens per output token",
    ]
    even = next((r.break_even for r in comparison.hosted if r.break_even), None)
    if even is not None and even.fixed_usd_per_day == 0:
        lines.append(
            f"break-even: no fixed cost is set (electricity only), so this machine is cheaper "
            f"from the first token wherever the hosted price is above "
            f"{usd(even.self_variable_usd_per_mtok)} per 1M; it makes at most "
            f"{tokens(even.capacity_tokens_per_day)} output tokens/day at this rate"
        )
    elif even is not None:
        lines.append(
            f"break-even: fixed {usd(even.fixed_usd_per_day)}/day / (hosted $/1M out+in"
            + (
                f" - {usd(even.self_variable_usd_per_mtok)} electricity per 1M here"
                if even.self_variable_usd_per_mtok
                else ""
            )
            + f"); this machine makes at most {tokens(even.capacity_tokens_per_day)} output "
            "tokens/day at this rate"
        )
    return lines + list(comparison.notes)
