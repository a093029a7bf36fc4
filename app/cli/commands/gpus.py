"""`hostbench gpus` (alias `hw`): GPUs, CPU, RAM and the model disk of this machine.

A machine without a GPU is a normal case: one line on stderr says why none was found, and
the CPU/RAM/disk rows are printed as usual. `--watch` redraws in place on a terminal and
prints one block (or one JSON line) per interval when piped.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.cli.context import CliContext
from app.cli.output import format_table, note, print_json
from app.display.numbers import human_bytes
from errors import ExitCode

if TYPE_CHECKING:
    from hardware import CpuSnapshot, GpuSnapshot, MachineSnapshot

COLUMNS = ("device", "name", "memory", "free", "util", "temp", "power", "details")
CLEAR_SCREEN = "\x1b[H\x1b[2J"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hostbench gpus", description="Show GPUs, CPU, RAM and disk of this machine."
    )
    parser.add_argument("--json", action="store_true", help="the full snapshot as JSON")
    parser.add_argument(
        "--watch",
        nargs="?",
        const=1.0,
        type=float,
        metavar="SECONDS",
        help="refresh every SECONDS (default 1) until Ctrl-C",
    )
    parser.add_argument("--count", type=int, help="with --watch: stop after COUNT refreshes")
    parser.add_argument("--model-dir", type=Path, help="where models are stored (free space)")
    return parser


def run(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(argv)
    model_dir = args.model_dir or CliContext.from_args(args).locations.models_dir
    if args.watch is None:
        from hardware import discover

        snapshot = discover(model_dir)
        _note_absent_gpus(snapshot)
        _emit(snapshot, as_json=args.json)
        return ExitCode.OK
    if args.watch <= 0:
        build_parser().error("--watch needs a positive number of seconds")
    return _watch(model_dir, args.watch, args.count, args.json)


def _watch(model_dir: Path, interval_s: float, count: int | None, as_json: bool) -> int:
    from hardware import Sampler

    sampler = Sampler(interval_s=interval_s, window_s=interval_s, model_dir=model_dir)
    redraw = sys.stdout.isatty() and not as_json
    shown = 0
    try:
        while count is None or shown < count:
            started = time.monotonic()
            snapshot = sampler.sample()
            if shown == 0 and not redraw:
                _note_absent_gpus(snapshot)
            _emit(snapshot, as_json=as_json, redraw=redraw, watch_index=shown)
            if redraw:  # the screen was cleared: show the one line again, under the table
                _note_absent_gpus(snapshot)
            shown += 1
            if count is None or shown < count:
                time.sleep(max(0.0, interval_s - (time.monotonic() - started)))
    except KeyboardInterrupt:
        pass  # Ctrl-C is how a watch ends
    finally:
        sampler.stop()
    return ExitCode.OK


def _note_absent_gpus(snapshot: MachineSnapshot) -> None:
    if snapshot.gpu_absence_reason:
        note(f"no GPU found: {snapshot.gpu_absence_reason}. Showing CPU, RAM and disk.")


def _emit(
    snapshot: MachineSnapshot, as_json: bool, redraw: bool = False, watch_index: int | None = None
) -> None:
    """One-off: a table or indented JSON. Watching: JSON Lines, or blocks (redrawn on a TTY)."""
    from hardware import snapshot_to_dict

    if as_json and watch_index is None:
        # sys.stdout as it is now: print_json's default is bound when output.py is imported
        print_json(snapshot_to_dict(snapshot), out=sys.stdout)
    elif as_json:
        sys.stdout.write(json.dumps(snapshot_to_dict(snapshot), default=str) + "\n")
    else:
        table = format_table(device_rows(snapshot), COLUMNS)
        prefix = CLEAR_SCREEN if redraw else ("\n" if watch_index else "")
        sys.stdout.write(f"{prefix}{table}\n")
    sys.stdout.flush()


def device_rows(snapshot: MachineSnapshot) -> list[dict[str, Any]]:
    """One row per GPU, then the CPU, RAM, swap (if any) and the model disk."""
    memory, disk = snapshot.memory, snapshot.disk
    rows = [gpu_row(gpu) for gpu in snapshot.gpus]
    rows.append(cpu_row(snapshot.cpu))
    ram_used = memory.ram_total_bytes - memory.ram_available_bytes
    rows.append(_space_row("ram", None, ram_used, memory.ram_total_bytes, "available to load"))
    if memory.swap_total_bytes:
        rows.append(_space_row("swap", None, memory.swap_used_bytes, memory.swap_total_bytes))
    if disk is not None:
        used = disk.total_bytes - disk.free_bytes
        rows.append(_space_row("disk", disk.path, used, disk.total_bytes, "free for models"))
    return rows


def _space_row(
    device: str, name: str | None, used: int, total: int, details: str | None = None
) -> dict[str, Any]:
    return {
        "device": device,
        "name": name,
        "memory": _used_of(used, total),
        "free": human_bytes(total - used),
        "details": details,
    }


def gpu_row(gpu: GpuSnapshot) -> dict[str, Any]:
    used = gpu.memory_used_bytes
    return {
        "device": f"gpu{gpu.index}",
        "name": gpu.name,
        "memory": _used_of(used, gpu.memory_total_bytes)
        if not gpu.unified_memory
        else _unified(gpu),
        "free": human_bytes(gpu.memory_free_bytes) if gpu.memory_free_bytes is not None else None,
        "util": _percent(gpu.utilization_gpu_percent),
        "temp": None if gpu.temperature_c is None else f"{gpu.temperature_c:.0f} C",
        "power": _power(gpu.power_draw_w, gpu.power_limit_w),
        "details": ", ".join(_gpu_details(gpu)) or None,
    }


def _unified(gpu: GpuSnapshot) -> str:
    """'32.0 GiB unified, GPU 21.3 GiB': the GPU's share is what a fit may use."""
    shared = f"{human_bytes(gpu.memory_total_bytes)} unified"
    if gpu.gpu_budget_bytes is None:
        return shared
    return f"{shared}, GPU {human_bytes(gpu.gpu_budget_bytes)}"


def _gpu_details(gpu: GpuSnapshot) -> list[str]:
    details = [f"{gpu.gpu_cores} GPU cores"] if gpu.gpu_cores else []
    details += [gpu.gpu_budget_basis] if gpu.gpu_budget_basis else []
    if gpu.pcie_generation is not None and gpu.pcie_width is not None:
        details.append(f"PCIe {gpu.pcie_generation} x{gpu.pcie_width}")
    if gpu.compute_capability:
        details.append(f"CC {gpu.compute_capability}")
    if gpu.facts and gpu.facts.memory_bandwidth_gbps:
        details.append(f"{gpu.facts.memory_bandwidth_gbps:g} GB/s peak")
    if gpu.driver_version:
        cuda = f", CUDA {gpu.cuda_driver_version}" if gpu.cuda_driver_version else ""
        details.append(f"driver {gpu.driver_version}{cuda}")
    if gpu.processes:
        details.append(f"{len(gpu.processes)} process{'es' if len(gpu.processes) > 1 else ''}")
    return details


def cpu_row(cpu: CpuSnapshot) -> dict[str, Any]:
    return {
        "device": "cpu",
        "name": cpu.model_name,
        "util": _percent(cpu.utilization_percent),
        "power": None if cpu.package_power_w is None else f"{cpu.package_power_w:.0f} W",
        "details": ", ".join(_cpu_details(cpu)),
    }


def _cpu_details(cpu: CpuSnapshot) -> list[str]:
    cores = f"{cpu.physical_cores or '?'} cores, {cpu.logical_cores or '?'} threads"
    simd = [name for name, has in _simd(cpu) if has]
    return [cores, cpu.architecture, *(simd or ["no AVX2/NEON"])]


def _simd(cpu: CpuSnapshot) -> list[tuple[str, bool | None]]:
    return [("AVX2", cpu.avx2), ("AVX-512", cpu.avx512), ("AMX", cpu.amx), ("NEON", cpu.neon)]


def _used_of(used: int | None, total: int | None) -> str | None:
    if total is None:
        return None
    return f"{human_bytes(used)} / {human_bytes(total)}"


def _percent(value: float | None) -> str | None:
    return None if value is None else f"{value:.0f}%"


def _power(draw_w: float | None, limit_w: float | None) -> str | None:
    if draw_w is None and limit_w is None:
        return None
    draw = "-" if draw_w is None else f"{draw_w:.0f} W"
    return draw if limit_w is None else f"{draw} / {limit_w:.0f} W"
