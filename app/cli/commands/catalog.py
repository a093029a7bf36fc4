"""`hostbench catalog`: the model catalog, each entry with a fit verdict for this machine
and the best quant that fits. No network: estimates use local headers where a file is here,
else the catalog's facts (say `hostbench fit MODEL` for one read from the remote header)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from app.cli.context import CliContext
from app.cli.exit_codes import ExitCode
from app.cli.fitting import add_machine_option, machine_snapshot
from app.cli.output import note, print_json, print_table

if TYPE_CHECKING:
    from catalog import CatalogEntry, LocalModels
    from catalog.fit import FitOptions
    from catalog.placement import Devices

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


def matches(entry: CatalogEntry, text: str | None) -> bool:
    if not text:
        return True
    haystack = " ".join([entry.id, entry.name, entry.family, entry.license or ""]).lower()
    return all(word in haystack for word in text.lower().split())


def entry_row(
    entry: CatalogEntry, registry: LocalModels, options: FitOptions, devices: Devices
) -> dict[str, Any]:
    from catalog import CatalogError
    from catalog.fit_target import best_quant, shape_of_file
    from catalog.model_shape import shape_from_catalog
    from catalog.placement import fit
    from catalog.pull import already_pulled

    shapes = {}
    for gguf in entry.gguf:
        local = already_pulled(registry, entry, gguf)
        if local is not None:
            shapes[gguf.quant] = shape_of_file(local.path, f"{entry.id}:{gguf.quant}")
    verdict = None
    try:
        shape = shapes.get(entry.default_quant) or shape_from_catalog(entry, entry.default_quant)
        verdict = fit(shape, options, devices).verdict.value
    except CatalogError as error:  # an entry lacking facts still lists
        note(f"{entry.id}: {error}")
    best = best_quant(entry, options, devices, shapes)
    return {
        "id": entry.id,
        "name": entry.name,
        "family": entry.family,
        "params": _params(entry),
        "context": entry.max_context,
        "license": (entry.license or "").split(" (")[0] or None,
        "license_full": entry.license,
        "quants": ",".join(entry.quants) or None,
        "here": ",".join(sorted(shapes)) or None,
        "fit": f"{entry.default_quant}: {verdict}" if verdict else None,
        "best": f"{best[0]}: {best[1].verdict.value}" if best else None,
        "best_quant": best[0] if best else None,
        "facts_source": list(entry.facts_source),
    }


def _params(entry: CatalogEntry) -> str | None:
    if entry.params_total_b is None:
        return None
    total = f"{entry.params_total_b:g}B"
    return f"{total} ({entry.params_active_b:g}B active)" if entry.params_active_b else total


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
    rows = [entry_row(e, registry, options, devices) for e in entries]
    rows = [r for r in rows if r["best_quant"]] if args.fits else rows
    if args.json:
        print_json(rows)
    else:
        print_table(rows, COLUMNS)
    return ExitCode.OK
