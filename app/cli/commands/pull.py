"""`hostbench pull MODEL[:QUANT]`: fetch a catalog model, verify it, register it."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from app.cli.commands.models import model_row
from app.cli.context import CliContext
from app.cli.exit_codes import ExitCode
from app.cli.output import print_json, print_table
from app.cli.progress import ByteProgress
from catalog import LocalModels, load_catalog, resolve_model

COLUMNS = ("id", "quant", "size", "sha256", "origin", "path")


def run(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="hostbench pull", description="Fetch a catalog model and verify its sha256."
    )
    parser.add_argument("model", help="catalog id, optionally with :QUANT")
    parser.add_argument("--json", action="store_true", help="print the local model as JSON")
    args = parser.parse_args(argv)
    ctx = CliContext.from_args(args)
    registry = LocalModels(ctx.open_store())
    progress = ByteProgress(f"pulling {args.model}")
    try:
        model = resolve_model(
            args.model, load_catalog(), registry, ctx.locations.models_dir, progress=progress
        )
    finally:
        progress.finish()
    row = model_row(model)
    if args.json:
        print_json(row)
    else:
        print_table([row], COLUMNS)
    return ExitCode.OK
