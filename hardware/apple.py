"""Apple silicon: the GPU shares system RAM, so its "VRAM" is the unified memory size.

macOS exposes no NVML-like telemetry without root (powermetrics needs sudo), so this
backend reports what a fit estimate needs: the chip's name and the unified memory size.
"""

from __future__ import annotations

import platform
import sys
from collections.abc import Callable

from hardware.cpu import read_sysctl
from hardware.facts import GpuFactsTable
from hardware.snapshots import BackendStatus, GpuSnapshot

Sysctl = Callable[[str], str | None]


class AppleBackend:
    """The Apple GPU as one device with unified memory; elsewhere, not applicable."""

    name = "sysctl"

    def __init__(
        self,
        sysctl: Sysctl = read_sysctl,
        is_apple_silicon: Callable[[], bool] | None = None,
        facts: GpuFactsTable | None = None,
    ) -> None:
        self._sysctl = sysctl
        self._is_apple_silicon = is_apple_silicon or _is_apple_silicon
        self._facts = facts
        self._gpu: GpuSnapshot | None = None

    def open(self) -> BackendStatus:
        if not self._is_apple_silicon():
            return BackendStatus(self.name, available=False, reason="not Apple silicon")
        memsize = self._sysctl("hw.memsize")
        if memsize is None or not memsize.isdigit():
            return BackendStatus(self.name, available=False, reason="hw.memsize unreadable")
        name = self._sysctl("machdep.cpu.brand_string") or "Apple GPU"
        facts = (self._facts or GpuFactsTable.load()).match(name)
        self._gpu = GpuSnapshot(
            vendor="Apple",
            index=0,
            name=name,
            memory_total_bytes=int(memsize),
            unified_memory=True,
            facts=facts,
        )
        return BackendStatus(self.name, available=True, device_count=1)

    def read(self) -> tuple[GpuSnapshot, ...]:
        return (self._gpu,) if self._gpu else ()

    def close(self) -> None:
        self._gpu = None


def _is_apple_silicon() -> bool:
    return sys.platform == "darwin" and platform.machine() == "arm64"
