"""`hostbench rm MODEL`: forget a local model and delete the file hostbench owns.

Files in the Hugging Face cache are shared with other tools and stay unless
`--delete-from-hf-cache`; files you pointed hostbench at are never deleted."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from app.cli.context import CliContext
from app.cli.output import note, print_json
from errors import ExitCode


def run(argv: Sequence[str]) -> int:
    from catalog import LocalModels
    from catalog.remove import remove_model

    parser = argparse.ArgumentParser(
        prog="hostbench rm",
        description="Remove a local model (see `hostbench models`). Deletes files hostbench "
        "created; keeps files in the Hugging Face cache (shared with other tools) unless "
        "--delete-from-hf-cache; never deletes a file you registered by path.",
    )
    parser.add_argument("model", help="local model id")
    parser.add_argument("--keep-file", action="store_true", help="forget it, keep the file")
    parser.add_argument(
        "--delete-from-hf-cache",
        action="store_true",
        help="also delete it from the Hugging Face cache (other tools lose it too)",
    )
    parser.add_argument("--json", action="store_true", help="what was done, as JSON")
    args = parser.parse_args(argv)
    ctx = CliContext.from_args(args)
    removal = remove_model(
        args.model,
        LocalModels(ctx.open_store()),
        ctx.locations.models_dir,
        keep_file=args.keep_file,
        delete_from_hf_cache=args.delete_from_hf_cache,
    )
    if args.json:
        print_json(
            {
                "id": removal.model.id,
                "deleted": [str(p) for p in removal.deleted],
                "kept_because": removal.kept_because,
            }
        )
        return ExitCode.OK
    for path in removal.deleted:
        note(f"deleted {path}")
    if removal.kept_because:
        note(f"kept {removal.model.path}: {removal.kept_because}")
    print(f"removed {removal.model.id}")
    return ExitCode.OK
