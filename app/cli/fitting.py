"""Shared by `fit`, `catalog` and `launch --dry-run`: the machine to fit against, and how
fit reports and resolved options read on a terminal and in JSON."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.display.numbers import human_bytes

if TYPE_CHECKING:
    from catalog.fit import FitOptions
    from catalog.placement import FitReport
    from hardware import MachineSnapshot
    from profiles.resolver import Resolution


def add_machine_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--machine",
        type=Path,
        metavar="FILE",
        help="fit against a machine snapshot (JSON from `hostbench gpus --json`) instead of "
        "this machine, e.g. the server you plan to deploy on",
    )


def machine_snapshot(path: Path | None, models_dir: Path) -> MachineSnapshot:
    from hardware import discover
    from hardware.snapshot_file import read_snapshot_file

    if path is None:
        return discover(models_dir)
    return read_snapshot_file(path)


def options_text(options: FitOptions) -> str:
    from catalog.fit import LLAMA_CPP_UBATCH

    kv = (
        options.type_k if options.type_k == options.type_v else f"{options.type_k}/{options.type_v}"
    )
    flash = ", flash attention" if options.flash_attn else ""
    ubatch = f", micro-batch {options.n_ubatch}" if options.n_ubatch != LLAMA_CPP_UBATCH else ""
    return f"ctx {options.n_ctx} x {options.n_parallel} slot(s), KV {kv}{flash}{ubatch}"


def report_dict(report: FitReport) -> dict[str, Any]:
    from catalog.fit import estimate_cpu

    placement = report.placement
    uses = [*placement.gpus, placement.ram]
    return {
        "model": report.shape.name,
        "verdict": report.verdict.value,
        "n_gpu_layers": placement.n_gpu_layers,
        "n_layers": report.shape.n_layers,
        "exact": report.shape.exact,
        "source": report.shape.source,
        "options": {
            "n_ctx": report.options.n_ctx,
            "n_parallel": report.options.n_parallel,
            "type_k": report.options.type_k,
            "type_v": report.options.type_v,
            "flash_attn": report.options.flash_attn,
            "n_ubatch": report.options.n_ubatch,
        },
        "cpu_only_estimate": estimate_cpu(report.shape, report.options).as_dict(),
        "devices": [
            {
                "device": use.device.name,
                "layers": use.layers,
                "need_bytes": use.need_bytes,
                "free_bytes": use.device.free_bytes,
                "margin_bytes": use.device.margin_bytes,
                "fits": use.fits,
            }
            for use in uses
        ],
        "reasons": list(report.reasons),
    }


def breakdown_text(report: FitReport) -> str:
    from catalog.fit import estimate_cpu

    parts = estimate_cpu(report.shape, report.options).as_dict()
    names = ("weights", "kv", "compute", "output", "runtime", "total")
    return ", ".join(f"{n} {human_bytes(parts[f'{n}_bytes'])}" for n in names)


def resolution_rows(resolution: Resolution) -> list[dict[str, Any]]:
    return [
        {"option": key, "value": value, "why": str(resolution.reasons.get(key, ""))}
        for key, value in resolution.options.items()
    ]
