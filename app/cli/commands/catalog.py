"""`hostbench catalog`: the model catalog, each entry with a fit verdict for this machine
and the best quant that fits. No network: estimates use local headers where a file is here,
else the catalog's facts (say `hostbench fit MODEL` for one read from the remote header)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TYPE_CHECKING

from app.cli.context import CliContext
from app.cli.fitting import add_machine_option, machine_snapshot
from app.cli.output import note, print_json, print_table
from app.display.catalog_rows import entry_row, matches
from errors import ExitCode

if TYPE_CHECKING:
    pass

COLUMNS = ("id", "params", "context", "license", "quants", "here", "fit", "best")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hostbench catalog",
        description="List catalog models with a fit verdict for this machine (default quant) "
        "and the best quant that fits.",
    )
    parser.add_argument("--search", metavar="TEXT", help="only entries whose id/name/family match")
    parser.add_argument("--fits", action="store_true", help="only entries with a quant that fits")
    parser.add_argument("--ctx", type=int, default=4096, help="context to fit (default 4096)")
    parser.add_argument("--json", action="store_true", help="full entries as JSON")
    add_machine_option(parser)
    return parser


def run(argv: Sequence[str]) -> int:
    from catalog import LocalModels, load_catalog
    from catalog.fit import FitOptions
    from catalog.placement import Devices

    args = build_parser().parse_args(argv)
    ctx = CliContext.from_args(args)
    catalog = load_catalog()
    for problem in catalog.problems:
        note(f"catalog entry skipped: {problem}")
    registry = LocalModels(ctx.open_store())
    devices = Devices.from_snapshot(machine_snapshot(args.machine, ctx.locations.models_dir))
    options = FitOptions(n_ctx=args.ctx)
    entries = [e for e in catalog.entries.values() if matches(e, args.search)]
    rows = [entry_row(e, registry, options, devices, note) for e in entries]
    rows = [r for r in rows if r["best_quant"]] if args.fits else rows
    if args.json:
        print_json(rows)
    else:
        print_table(rows, COLUMNS)
    return ExitCode.OK
