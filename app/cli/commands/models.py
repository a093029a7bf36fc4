"""`hostbench models`: the local models this hostbench home knows, with their origin,
and the GGUF files other tools left in the Hugging Face cache."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TYPE_CHECKING

from app.cli.context import CliContext
from app.cli.output import print_json, print_table
from app.display.model_rows import cached_row, model_row
from errors import ExitCode

if TYPE_CHECKING:
    pass

COLUMNS = ("id", "catalog", "quant", "size", "sha256", "origin", "file")


def run(argv: Sequence[str]) -> int:
    from catalog import LocalModels
    from catalog.hf_cache import cached_ggufs

    parser = argparse.ArgumentParser(
        prog="hostbench models",
        description="List local models, and GGUF files in the Hugging Face cache "
        "(launch one by path, or pull its catalog id to register it).",
    )
    parser.add_argument("--json", action="store_true", help="full details as JSON")
    parser.add_argument("--no-hf-cache", action="store_true", help="skip the HF cache scan")
    args = parser.parse_args(argv)
    models = LocalModels(CliContext.from_args(args).open_store()).all()
    known = {m.path.absolute() for m in models}
    cached = [] if args.no_hf_cache else cached_ggufs()
    extra = [c for c in cached if c.path.absolute() not in known]
    if args.json:
        print_json(
            [model_row(m, short=False) for m in models] + [cached_row(c, False) for c in extra]
        )
        return ExitCode.OK
    rows = [
        {**model_row(m), "file": model_row(m)["file"] + ("" if m.present else " (missing)")}
        for m in models
    ]
    print_table(rows + [cached_row(c) for c in extra], COLUMNS)
    return ExitCode.OK
