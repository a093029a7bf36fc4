"""`hostbench compare [MODEL] [--concurrency N]`: this machine next to hosted APIs.

From stored runs only (run `hostbench bench MODEL --concurrency 1,4,8` first): cost per 1M
output and input tokens, speed, energy, and the daily volume above which self-hosting is
cheaper than each hosted offer. Every figure names its source and date.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from app.cli.context import CliContext
from app.cli.output import print_json, print_table
from app.display.compare_rows import footer_lines, header_lines, hosted_cells, local_row
from errors import ExitCode
from workflows.benchmarking import build_comparison

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
