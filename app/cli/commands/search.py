"""`hostbench search QUERY`: GGUF models anywhere on the Hugging Face Hub, each file with
its quant and a fit verdict for this machine read from its remote header (range requests,
nothing downloaded), and the `hf:` reference that `pull` and `launch` take. The answer is
cached, so an offline search shows the last one, saying so."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TYPE_CHECKING

from app.cli.context import CliContext
from app.cli.fitting import add_machine_option, machine_snapshot
from app.cli.output import note, print_json, print_table
from app.display.hub_rows import COLUMNS, cached_line, empty_line, hub_rows
from errors import ExitCode

if TYPE_CHECKING:
    from catalog.hub_search import HubSearch


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hostbench search",
        description="Search the Hugging Face Hub for GGUF models; each file with its quant, "
        "size and fit verdict here (from its header, read remotely), and what to pass to "
        "`hostbench pull` or `launch`.",
    )
    parser.add_argument("query", nargs="+", help="words in the repository name, e.g. qwen2.5 7b")
    parser.add_argument("--limit", type=int, default=5, help="repositories (default 5)")
    parser.add_argument("--ctx", type=int, default=4096, help="context to fit (default 4096)")
    parser.add_argument("--json", action="store_true", help="the answer as JSON")
    add_machine_option(parser)
    return parser


def run(argv: Sequence[str]) -> int:
    from catalog.fit import FitOptions
    from catalog.hub_search_cache import SearchCache, search_or_cached
    from catalog.placement import Devices

    args = build_parser().parse_args(argv)
    ctx = CliContext.from_args(args)
    devices = Devices.from_snapshot(machine_snapshot(args.machine, ctx.locations.models_dir))
    cache = SearchCache(ctx.locations.hub_search_dir)
    found = search_or_cached(
        " ".join(args.query), cache, FitOptions(n_ctx=args.ctx), devices, limit=args.limit
    )
    for line in (cached_line(found), empty_line(found)):
        if line:
            note(line)
    rows = hub_rows(found)
    if args.json:
        print_json({**_header(found), "files": rows})
        return ExitCode.OK
    for row in rows:
        if row["note"]:
            note(f"{row['repo']}/{row['file']}: {row['note']}")
    print_table(rows, COLUMNS)
    return ExitCode.OK


def _header(found: HubSearch) -> dict[str, object]:
    return {
        "query": found.query,
        "searched_at": found.searched_at.isoformat(),
        "options": found.options,
        "cached_because": found.cached_because,
    }
