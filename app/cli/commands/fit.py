"""`hostbench fit MODEL[:QUANT]`: will it fit here, how, and with how much context?

Reads the GGUF header of a local file, or only the header of the catalog's remote file
(HTTP range requests), so the verdict comes before a download."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from app.cli.context import CliContext
from app.cli.fitting import (
    add_machine_option,
    breakdown_text,
    machine_snapshot,
    options_text,
    report_dict,
)
from app.cli.output import note, print_json
from errors import ExitCode

KV_CHOICES = ("f16", "q8_0", "q4_0")


def build_parser() -> argparse.ArgumentParser:
    from catalog.fit import LLAMA_CPP_UBATCH

    parser = argparse.ArgumentParser(
        prog="hostbench fit",
        description="Estimate the memory MODEL needs (weights, KV cache, compute buffers) "
        "against this machine's free VRAM and RAM: full GPU, partial offload, CPU only, "
        "or does not fit; plus the largest context and the best quant that fit.",
    )
    parser.add_argument("model", help="catalog id[:QUANT], local model id or .gguf path")
    parser.add_argument("--ctx", type=_count, default=4096, help="context per slot (default 4096)")
    parser.add_argument("--parallel", type=_count, default=1, help="concurrent slots (default 1)")
    parser.add_argument("--kv-type", choices=KV_CHOICES, default="f16", help="KV cache type")
    parser.add_argument("--flash-attn", action="store_true", help="count flash attention on")
    parser.add_argument(
        "--ubatch-size",
        type=_count,
        default=LLAMA_CPP_UBATCH,
        help=f"micro-batch, which sizes the compute buffers (default {LLAMA_CPP_UBATCH}, "
        "llama.cpp's; the cpu profile launches with 64)",
    )
    parser.add_argument("--n-gpu-layers", type=int, help="evaluate this offload instead")
    parser.add_argument(
        "--split-mode",
        choices=("layer", "row", "tensor", "none"),
        default="layer",
        help="how several GPUs share the model (llama.cpp's --split-mode; default layer)",
    )
    parser.add_argument(
        "--tensor-split",
        type=_shares,
        metavar="N,N,...",
        help="share per GPU, e.g. 3,1 (default: in proportion to free memory)",
    )
    parser.add_argument(
        "--main-gpu", type=int, default=0, help="the GPU used with --split-mode none"
    )
    parser.add_argument(
        "--no-remote", action="store_true", help="never read a remote header; use catalog facts"
    )
    parser.add_argument(
        "--users", type=_count, default=1, help="concurrent users to plan for (engine choice)"
    )
    parser.add_argument("--json", action="store_true", help="the full report as JSON")
    add_machine_option(parser)
    return parser


def run(argv: Sequence[str]) -> int:
    from catalog import LocalModels, load_catalog
    from catalog.fit import FitOptions
    from catalog.fit_target import subject_for
    from catalog.placement import Devices, fit

    args = build_parser().parse_args(argv)
    ctx = CliContext.from_args(args)
    catalog, registry = load_catalog(), LocalModels(ctx.open_store())
    subject = subject_for(args.model, catalog, registry, remote=not args.no_remote)
    snapshot = machine_snapshot(args.machine, ctx.locations.models_dir)
    devices = Devices.from_snapshot(snapshot)
    options = FitOptions(
        n_ctx=args.ctx,
        n_parallel=args.parallel,
        type_k=args.kv_type,
        type_v=args.kv_type,
        flash_attn=args.flash_attn,
        n_ubatch=args.ubatch_size,
        split_mode=args.split_mode,
        tensor_split=args.tensor_split,
        main_gpu=args.main_gpu,
    )
    report = fit(subject.shape, options, devices, args.n_gpu_layers)
    summary = _summary(subject, report, devices, options)
    summary["engine"] = _engine(args, catalog, registry, snapshot)
    if args.machine is None:
        summary["estimate_record"] = _estimate_record(ctx)
    if args.json:
        print_json(summary)
    else:
        _print(summary, subject.note, devices.notes)
        _ab_hint(args, summary["engine"])
    return ExitCode.OK if report.verdict.fits else ExitCode.DOES_NOT_FIT


def _estimate_record(ctx: CliContext) -> dict[str, Any]:
    """How far the estimate has been from engines' memory in the bench records here."""
    from bench.estimate_record import estimate_record
    from bench.runs import BenchRuns

    record = estimate_record(BenchRuns(ctx.open_store()).recent(limit=500))
    return {**record.as_dict(), "text": record.text()}


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number above 0")
    return value


def _shares(text: str) -> tuple[float, ...]:
    """'3,1' -> (3.0, 1.0); a clear usage error otherwise."""
    try:
        shares = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of numbers: {text!r}") from None
    if any(s < 0 for s in shares) or not any(shares):
        raise argparse.ArgumentTypeError("shares must be >= 0 and not all 0")
    return shares


def _ab_hint(args: argparse.Namespace, engine: dict[str, Any]) -> None:
    """Where two engines can run the model on this machine, how to measure both."""
    if args.machine is None and sum(c["runnable"] for c in engine["choices"]) >= 2:
        print(f"    measure both here: hostbench bench --ab {args.model}")


def _engine(args: argparse.Namespace, catalog: Any, registry: Any, snapshot: Any) -> dict[str, Any]:
    """Which engine to use here (or on --machine, where vLLM's presence is unknown)."""
    from engines.vllm import VllmEngine
    from workflows.recommend import recommend_engine

    installed = None if args.machine else VllmEngine().availability().available
    found = recommend_engine(
        args.model, catalog, registry, snapshot, users=args.users, vllm_installed=installed
    )
    return found.as_dict()


def _summary(subject: Any, report: Any, devices: Any, options: Any) -> dict[str, Any]:
    from catalog.fit_target import best_quant
    from catalog.placement import Verdict, largest_context

    data = report_dict(report)
    data["note"] = subject.note
    data["largest_context"] = largest_context(subject.shape, options, devices)
    if report.verdict is Verdict.FULL_GPU or report.placement.gpus:
        data["largest_context_full_gpu"] = largest_context(
            subject.shape, options, devices, Verdict.FULL_GPU
        )
    data["trained_context"] = subject.shape.ctx_train
    if subject.entry is not None:
        shapes = {subject.quant: subject.shape} if subject.quant else {}
        best = best_quant(subject.entry, options, devices, shapes)
        data["best_quant"] = {"quant": best[0], "verdict": best[1].verdict.value} if best else None
    data["text"] = {"options": options_text(options), "breakdown": breakdown_text(report)}
    return data


def _print(summary: dict[str, Any], subject_note: str | None, device_notes: Sequence[str]) -> None:
    for line in [subject_note, *device_notes]:
        if line:
            note(line)
    print(f"{summary['model']}: {summary['verdict']} ({summary['text']['options']})")
    print(f"  estimate ({summary['source']}): {summary['text']['breakdown']}")
    if "estimate_record" in summary:
        print(f"  estimate on this machine so far: {summary['estimate_record']['text']}")
    for reason in summary["reasons"]:
        print(f"  {reason}")
    largest = summary["largest_context"]
    trained = summary["trained_context"]
    print(f"  largest context that fits: {largest or 'none'} (trained: {trained or 'unknown'})")
    if summary.get("largest_context_full_gpu") is not None:
        print(f"  largest context fully on GPU: {summary['largest_context_full_gpu']}")
    if "best_quant" in summary:
        best = summary["best_quant"]
        shown = f"{best['quant']} ({best['verdict']})" if best else "none"
        print(f"  best quant that fits: {shown}")
    engine = summary["engine"]
    print(f"  engine: {engine['engine']}: {'; '.join(engine['reasons'])}")
    for choice in engine["choices"]:
        if choice["engine"] != engine["engine"] and choice["runnable"]:
            print(f"    {choice['engine']} could run it too: {choice['why']}")
