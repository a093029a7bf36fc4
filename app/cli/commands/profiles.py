"""`hostbench profiles [show NAME]`: launch profiles, shipped and the user's.

User profiles are TOML files in `<config dir>/profiles/`; one with a shipped name replaces
the shipped one. Engine options are checked against the engine's option model here."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from app.cli.context import CliContext
from app.cli.fitting import add_machine_option, machine_snapshot
from app.cli.output import note, print_json, print_table
from errors import ExitCode

if TYPE_CHECKING:
    from hardware import MachineSnapshot
    from profiles.library import ProfileLibrary
    from profiles.profile import Profile

COLUMNS = ("name", "kind", "engine", "extends", "here", "origin", "description")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hostbench profiles",
        description="List launch profiles, or show one resolved for this machine.",
    )
    parser.add_argument("action", nargs="?", choices=["list", "show"], default="list")
    parser.add_argument("name", nargs="?", help="profile to show (default: this machine's)")
    parser.add_argument(
        "--engine", help="engine whose options to show (default: the profile's, else llama.cpp)"
    )
    parser.add_argument("--json", action="store_true")
    add_machine_option(parser)
    return parser


def _kind(profile: Profile) -> str:
    if profile.tuned is not None:
        return "tuned"
    if profile.match is not None:
        return "hardware"
    if profile.engine_name is not None:
        return "engine preset"
    return "goal" if profile.extends == "auto" else "custom"


def list_rows(library: ProfileLibrary, snapshot: MachineSnapshot) -> list[dict[str, Any]]:
    from profiles.library import ProfileError
    from profiles.profile import SHIPPED_DIR

    try:
        here = library.matching(snapshot).name
    except ProfileError:
        here = None
    return [
        {
            "name": p.name,
            "kind": _kind(p),
            "engine": p.engine_name,
            "extends": p.extends,
            "here": "matches" if p.name == here else None,
            "origin": "shipped" if library.origins[p.name].parent == SHIPPED_DIR else "user",
            "path": str(library.origins[p.name]),
            "description": p.description,
        }
        for p in sorted(library.profiles.values(), key=lambda p: (_kind(p), p.name))
    ]


def show(
    library: ProfileLibrary, name: str | None, snapshot: MachineSnapshot, engine: str | None
) -> dict[str, Any]:
    from profiles.profile import DEFAULT_ENGINE

    engine = engine or library.engine_of(name) or DEFAULT_ENGINE
    resolved = library.resolve(name, snapshot, engine)
    return {
        "name": resolved.name,
        "description": resolved.description,
        "chain": list(resolved.chain),
        "for_engine": engine,
        "engine": [
            {"option": key, "value": value, "from": resolved.source.get(key)}
            for key, value in resolved.engine.items()
        ],
        "engine_check": _check(engine, resolved.engine),
        "cost": resolved.cost.model_dump(),
    }


def _check(engine: str, values: dict[str, Any]) -> str:
    """Whether the engine accepts these options ('ok' or its one-line complaint)."""
    from pydantic import ValidationError

    from engines.registry import load_engine

    try:
        load_engine(engine).parse_options(values)
    except ValidationError as error:
        return "; ".join(
            f"{'.'.join(str(p) for p in item['loc'])}: {item['msg']}" for item in error.errors()
        )
    return "ok"


def run(argv: Sequence[str]) -> int:
    from profiles.library import ProfileLibrary
    from profiles.planning import user_profiles_dir

    parser = build_parser()
    args = parser.parse_args(argv)
    ctx = CliContext.from_args(args)
    library = ProfileLibrary.load(user_profiles_dir(ctx.locations))
    for problem in library.problems:
        note(f"profile skipped: {problem}")
    snapshot = machine_snapshot(args.machine, ctx.locations.models_dir)
    if args.action == "list":
        rows = list_rows(library, snapshot)
        print_json(rows) if args.json else print_table(rows, COLUMNS)
        return ExitCode.OK
    shown = show(library, args.name, snapshot, args.engine)
    if args.json:
        print_json(shown)
        return ExitCode.OK
    _print_shown(shown)
    return ExitCode.OK


def _print_shown(shown: dict[str, Any]) -> None:
    print(f"{shown['name']}: {shown['description']}")
    print(f"  chain: {' -> '.join(shown['chain'])}; options for {shown['for_engine']}")
    print_table(shown["engine"], ("option", "value", "from"))
    if shown["engine_check"] != "ok":
        note(f"the engine rejects these options: {shown['engine_check']}")
    costs = {k: v for k, v in shown["cost"].items() if v is not None}
    print("cost: " + (", ".join(f"{k}={v}" for k, v in costs.items()) or "not set"))
