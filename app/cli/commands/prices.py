"""`hostbench prices [--search TERM] [--provider P]` shows the hosted-API price table;
`hostbench prices update --from FILE_OR_URL` refreshes it into the user's data dir."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from app.cli.context import CliContext
from app.cli.output import note, print_json, print_table
from app.display.numbers import usd
from bench.prices import HostedOffers, load_price_table, update_price_table, user_table_path
from errors import ExitCode
from profiles import Locations

LITELLM_URL = (
    "https://raw.githubusercontent.com/BerriAI/litellm/main/model_prices_and_context_window.json"
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hostbench prices",
        description="Hosted API prices, USD per 1M tokens, from a dated table (LiteLLM's).",
    )
    parser.add_argument("--search", "-s", help="only entries whose key or provider contains this")
    parser.add_argument("--provider", help="only this provider (e.g. openai, together_ai)")
    parser.add_argument("--model", help="hosted copies of this catalog model (its catalog id)")
    parser.add_argument("--json", action="store_true")
    sub = parser.add_subparsers(dest="which")
    update = sub.add_parser("update", help="refresh the table from a file or URL")
    update.add_argument(
        "--from",
        dest="source",
        default=LITELLM_URL,
        help="our JSON format or LiteLLM's model_prices_and_context_window.json "
        "(default: LiteLLM's file on GitHub)",
    )
    update.add_argument("--json", action="store_true", default=argparse.SUPPRESS)
    return parser


def show(args: argparse.Namespace, locations: Locations) -> int:
    table = load_price_table(user_table_path(locations.data_dir))
    if args.model:
        found = [p for key in HostedOffers.load().copies_of(args.model) if (p := table.get(key))]
    else:
        found = table.search(args.search, args.provider)
    if args.json:
        print_json(
            {
                "source": table.source,
                "retrieved": table.retrieved,
                "path": table.path,
                "prices": [vars(p) for p in found],
            }
        )
        return ExitCode.OK
    rows = [
        {
            "model": p.key,
            "provider": p.provider,
            "$/1M in": usd(p.input_usd_per_mtok),
            "$/1M out": usd(p.output_usd_per_mtok),
            "$/1M cached in": usd(p.cached_input_usd_per_mtok),
            "deprecated": p.deprecation_date,
        }
        for p in found
    ]
    if rows:
        print_table(
            rows, ("model", "provider", "$/1M in", "$/1M out", "$/1M cached in", "deprecated")
        )
    note(
        f"{len(found)} of {len(table.prices)} entries; {table.source}, retrieved "
        f"{table.retrieved} ({table.path})"
    )
    return ExitCode.OK


def update(args: argparse.Namespace, locations: Locations) -> int:
    dest = user_table_path(locations.data_dir)
    note(f"reading {args.source} ...")
    table = update_price_table(args.source, dest)
    summary = {
        "path": str(dest),
        "source": table.source,
        "retrieved": table.retrieved,
        "entries": len(table.prices),
    }
    if args.json:
        print_json(summary)
    else:
        print(
            f"{len(table.prices)} prices from {table.source} (retrieved {table.retrieved}) "
            f"written to {dest}"
        )
    return ExitCode.OK


def run(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(argv)
    locations = CliContext.from_args(args).locations
    if args.which == "update":
        return update(args, locations)
    return show(args, locations)
