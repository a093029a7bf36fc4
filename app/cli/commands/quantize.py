"""`hostbench quantize MODEL --to TYPE`: llama.cpp's quantizer, in a child process, with
per-tensor progress; the result is loaded and asked for a few tokens, then registered
with its lineage."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from app.cli.context import CliContext
from app.cli.output import note, print_json, print_table
from app.cli.progress import ByteProgress, StepProgress
from app.display.model_rows import model_row
from app.display.numbers import human_bytes
from errors import ExitCode

COLUMNS = ("id", "quant", "size", "sha256", "origin", "file")


def types_help() -> str:
    from catalog.quant_types import COMMON_TARGETS, QUANT_TYPES

    rows = [q for q in QUANT_TYPES if q.name in COMMON_TARGETS]
    lines = [f"  {q.name:<7} {q.bits_per_weight:5.2f} bpw   {q.quality}" for q in rows]
    others = ", ".join(q.name for q in QUANT_TYPES if q.name not in COMMON_TARGETS)
    return (
        "types (bits per weight, typical quality loss: llama.cpp's own figures):\n"
        + "\n".join(lines)
        + f"\n  also: {others}\n\nK-quants need rows that are multiples of 256 wide; "
        "narrower rows fall back to other types, so the result can be larger than the "
        "nominal bits per weight (the file's real tensor types are recorded)."
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hostbench quantize",
        description="Quantize a local model (pulling a catalog model first if needed).",
        epilog=types_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("model", help="local model id, catalog id[:QUANT] or .gguf path")
    parser.add_argument("--to", required=True, metavar="TYPE", help="target type, e.g. Q4_K_M")
    parser.add_argument(
        "--allow-requantize",
        action="store_true",
        help="allow a source that is already quantized (quality drops further)",
    )
    parser.add_argument("--id", dest="model_id", help="id of the result (default MODEL:TYPE)")
    parser.add_argument("--threads", type=int, default=0, help="quantizer threads (0: all)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    return parser


def run(argv: Sequence[str]) -> int:
    from catalog import LocalModels, load_catalog, resolve_model
    from catalog.quant_types import quant_type
    from catalog.quantize import QuantizeRequest, quantize

    args = build_parser().parse_args(argv)
    target = quant_type(args.to).name
    ctx = CliContext.from_args(args)
    registry = LocalModels(ctx.open_store())
    fetching = ByteProgress(f"getting {args.model}")
    try:
        source = resolve_model(
            args.model, load_catalog(), registry, ctx.locations.models_dir, progress=fetching
        )
    finally:
        fetching.finish()
    request = QuantizeRequest(source, target, args.allow_requantize, args.model_id, args.threads)
    steps = StepProgress(f"quantizing {source.id} to {target}", "tensors")
    try:
        outcome = quantize(
            request,
            registry,
            ctx.locations.models_dir,
            progress=steps,
            on_warning=lambda text: note(f"warning: {text}"),
        )
    finally:
        steps.finish()
    lineage = outcome.model.lineage or {}
    note(
        f"{outcome.model.id}: {human_bytes(outcome.model.size_bytes)}, "
        f"{lineage.get('bits_per_weight')} bits per weight, {outcome.seconds:.1f} s; "
        f"it answered: {outcome.sample.strip()!r}"
    )
    if lineage.get("fallback"):
        note(f"llama.cpp: {lineage['fallback']}")
    row = model_row(outcome.model)
    if args.json:
        print_json({**model_row(outcome.model, short=False), "lineage": lineage})
    else:
        print_table([row], COLUMNS)
    return ExitCode.OK
