"""`hostbench compare [MODEL] [--concurrency N]`: this machine next to hosted APIs.

From stored runs only (run `hostbench bench MODEL --concurrency 1,4,8` first): cost per 1M
output and input tokens, speed, energy, and the daily volume above which self-hosting is
cheaper than each hosted offer. Every figure names its source and date.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from app.cli.bench_format import num, tokens, usd
from app.cli.context import CliContext
from app.cli.cost_format import cost_lines
from app.cli.exit_codes import ExitCode
from app.cli.output import print_json, print_table
from bench.comparison import Comparison, HostedRow
from bench.cost import BreakEven
from engines.benchmarking import build_comparison

COLUMNS = (
    "group",
    "offer",
    "provider",
    "$/1M in",
    "$/1M out",
    "$/1M out+in",
    "ttft p50",
    "out tok/s",
    "break-even out tok/day",
    "source",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hostbench compare",
        description="Cost and speed on this machine (from stored bench runs) next to hosted "
        "APIs, with the break-even volume.",
    )
    parser.add_argument("model", nargs="?", help="model name of the bench runs (default: newest)")
    parser.add_argument(
        "--concurrency",
        type=int,
        help="use the newest run at this concurrency (default: the newest sweep's fastest level)",
    )
    parser.add_argument(
        "--hosted",
        action="append",
        default=[],
        metavar="KEY",
        help="also compare with this price-table entry (repeatable)",
    )
    parser.add_argument(
        "--profile", help="take cost figures from this launch profile (default: the matching one)"
    )
    parser.add_argument("--json", action="store_true")
    return parser


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


def run(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(argv)
    ctx = CliContext.from_args(args)
    comparison, prices = build_comparison(
        ctx.settings,
        ctx.locations,
        ctx.open_store(),
        args.model,
        concurrency=args.concurrency,
        extra_keys=args.hosted,
        profile=args.profile,
    )
    if args.json:
        print_json({**comparison.as_dict(), "price_table": prices})
        return ExitCode.OK
    print("\n".join(header_lines(comparison)))
    print()
    print_table([local_row(comparison), *map(hosted_cells, comparison.hosted)], COLUMNS)
    print()
    for line in footer_lines(comparison, prices):
        print(f"note: {line}")
    return ExitCode.OK
