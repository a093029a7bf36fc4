"""`hostbench models`: the local models this hostbench home knows."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from app.cli.context import CliContext
from app.cli.exit_codes import ExitCode
from app.cli.output import human_bytes, print_json, print_table
from catalog import LocalModel, LocalModels

COLUMNS = ("id", "quant", "size", "sha256", "origin", "file")


def model_row(model: LocalModel, short: bool = True) -> dict[str, Any]:
    return {
        "id": model.id,
        "quant": model.quant,
        "size": human_bytes(model.size_bytes) if short else model.size_bytes,
        "sha256": model.sha256[:12] if short else model.sha256,
        "origin": model.origin,
        "file": model.path.name if short else str(model.path),
        "path": str(model.path),
        "present": model.present,
    }


def run(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="hostbench models", description="List local models.")
    parser.add_argument("--json", action="store_true", help="full details as JSON")
    args = parser.parse_args(argv)
    models = LocalModels(CliContext.from_args(args).open_store()).all()
    if args.json:
        print_json([model_row(m, short=False) for m in models])
        return ExitCode.OK
    rows = [
        {**model_row(m), "file": model_row(m)["file"] + ("" if m.present else " (missing)")}
        for m in models
    ]
    print_table(rows, COLUMNS)
    return ExitCode.OK
