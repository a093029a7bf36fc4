"""System RAM, swap and the free space where models live."""

from __future__ import annotations

import shutil
from pathlib import Path

import psutil

from hardware.snapshots import DiskSnapshot, MemorySnapshot


def read_memory() -> MemorySnapshot:
    """RAM and swap; `available` (not `free`) is what a model load can actually take."""
    ram = psutil.virtual_memory()
    swap = psutil.swap_memory()
    return MemorySnapshot(
        ram_total_bytes=ram.total,
        ram_available_bytes=ram.available,
        swap_total_bytes=swap.total,
        swap_used_bytes=swap.used,
    )


def read_disk(path: Path | None) -> DiskSnapshot | None:
    """Space on the filesystem that holds `path`.

    The model directory may not exist yet on a fresh install, so the nearest existing
    ancestor is measured: that is the filesystem the first download will land on.
    """
    if path is None:
        return None
    existing = _nearest_existing(path.expanduser())
    if existing is None:
        return None
    try:
        usage = shutil.disk_usage(existing)
    except OSError:
        return None
    return DiskSnapshot(path=str(path), total_bytes=usage.total, free_bytes=usage.free)


def _nearest_existing(path: Path) -> Path | None:
    for candidate in (path, *path.absolute().parents):
        if candidate.exists():
            return candidate
    return None
