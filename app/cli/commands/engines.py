"""`hostbench engines [build]`: which engines can run here; build llama-server."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

from app.cli.context import CliContext
from app.cli.output import note, print_json, print_table
from engines.llamacpp import build
from engines.registry import engine_names, load_engine
from errors import ExitCode


def _list(ctx: CliContext, as_json: bool) -> int:
    rows = []
    for name in engine_names():
        adapter = load_engine(name, ctx.settings.engines, ctx.locations)
        found = adapter.availability()
        rows.append(
            {
                "engine": name,
                "available": found.available,
                "runtime": found.runtime,
                "detail": found.detail,
            }
        )
    if as_json:
        print_json(rows)
    else:
        print_table(rows, ("engine", "available", "runtime", "detail"))
    return ExitCode.OK


def _build(ctx: CliContext) -> int:
    env = {**os.environ, "HOSTBENCH_CACHE_DIR": str(ctx.locations.cache_dir)}
    plan = build.make_plan(env)
    note(
        f"llama.cpp backend: {plan.backend} ({plan.reason}); "
        f"cmake flags: {' '.join(plan.cmake_flags) or 'none'}"
    )
    route = (
        "one compile: shared libraries for the bindings, llama-server and llama-bench"
        if plan.one_compile
        else "a static llama-server (HOSTBENCH_LLAMA_ONE_COMPILE=0)"
    )
    if plan.server_binary.is_file():
        note(f"reusing the cached build of {route}")
    else:
        note(f"building {route} (not cached yet: about 8 minutes on 2 cores) ...")
    print(build.ensure_llama_server(plan))
    return ExitCode.OK


def run(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="hostbench engines", description="List engines, or build llama-server."
    )
    parser.add_argument("action", nargs="?", choices=["list", "build"], default="list")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    ctx = CliContext.from_args(args)
    return _build(ctx) if args.action == "build" else _list(ctx, args.json)
