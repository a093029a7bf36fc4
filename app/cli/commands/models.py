"""`hostbench models`: the local models this hostbench home knows, with their origin,
and the GGUF files other tools left in the Hugging Face cache."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from app.cli.context import CliContext
from app.cli.exit_codes import ExitCode
from app.cli.output import human_bytes, print_json, print_table

if TYPE_CHECKING:
    from catalog import LocalModel
    from catalog.hf_cache import CachedGguf

COLUMNS = ("id", "catalog", "quant", "size", "sha256", "origin", "file")


def _repo(model: LocalModel) -> str | None:
    return (model.lineage or {}).get("repo")


def model_row(model: LocalModel, short: bool = True) -> dict[str, Any]:
    return {
        "id": model.id,
        "catalog": model.catalog_id,
        "quant": model.quant,
        "size": human_bytes(model.size_bytes) if short else model.size_bytes,
        "sha256": model.sha256[:12] if short else model.sha256,
        "origin": model.origin,
        "repo": _repo(model),
        "file": model.path.name if short else str(model.path),
        "path": str(model.path),
        "present": model.present,
        "registered": True,
    }


def cached_row(found: CachedGguf, short: bool = True) -> dict[str, Any]:
    sha = found.blob.name
    return {
        "id": f"(hf cache) {found.repo}",
        "catalog": None,
        "quant": None,
        "size": human_bytes(found.size_bytes) if short else found.size_bytes,
        "sha256": sha[:12] if short else sha,
        "origin": "hf-cache (not registered)",
        "repo": found.repo,
        "file": found.filename if short else str(found.path),
        "path": str(found.path),
        "present": True,
        "registered": False,
    }


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
