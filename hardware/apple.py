"""Apple silicon: the GPU shares system RAM, and macOS lets it use only part of it.

macOS exposes no NVML-like telemetry without root (powermetrics needs sudo), so this
backend reports what a fit estimate needs: the chip, its GPU cores, the unified memory size
and the GPU's share of it.

The share is Metal's `recommendedMaxWorkingSetSize`, which llama.cpp takes as the Metal
device's total memory (ggml-metal-device.m `ggml_metal_device_get_memory`) and prints at
start-up. Python cannot ask Metal for it without extra packages, so it is worked out the
way macOS sets it:

- `sysctl iogpu.wired_limit_mb`, when the user raised (or lowered) it: that many MiB. An
  M1 Max 32 GB with the limit at 26000 made llama-server list "MTL0: Apple M1 Max (26000
  MiB, 25999 MiB free)" (https://github.com/AlexsJones/llmfit/issues/570);
- otherwise two-thirds of RAM up to 36 GiB and three-quarters above, as llama.cpp logged it
  on real Macs: 10922.67 MiB on a 16 GB M1 (https://github.com/abetlen/llama-cpp-python/
  issues/687), 21845.34 MiB on a 32 GB M2 Max (https://github.com/ollama/ollama/issues/434)
  and M1 Max (https://github.com/ggml-org/llama.cpp/pull/2011), 49152.00 MiB on a 64 GB M1
  Max (https://github.com/ggml-org/llama.cpp/issues/1870). Where exactly between 32 and
  64 GiB the fraction changes is not in those readings; 36 GiB is the commonly cited
  boundary. macOS 26 gives more on large machines (107.52 GiB of 128 GiB, measured twice:
  https://github.com/antirez/ds4/pull/893), so there the budget here is conservative;
  `sudo sysctl iogpu.wired_limit_mb=N` states it exactly.
"""

from __future__ import annotations

import platform
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass

from hardware.cpu import read_sysctl
from hardware.facts import GpuFactsTable
from hardware.snapshots import BackendStatus, GpuSnapshot

Sysctl = Callable[[str], str | None]
MIB = 1 << 20
GIB = 1 << 30
TWO_THIRDS_UP_TO_BYTES = 36 * GIB
"""Macs with this much RAM or less give the GPU two-thirds of it; larger ones three-quarters."""


def metal_budget(memsize_bytes: int, wired_limit_mb: int | None) -> tuple[int, str]:
    """What the GPU may use of unified memory, and where that figure comes from."""
    if wired_limit_mb:
        return wired_limit_mb * MIB, f"iogpu.wired_limit_mb = {wired_limit_mb}"
    if memsize_bytes <= TWO_THIRDS_UP_TO_BYTES:
        share, text = (2, 3), "two-thirds"
    else:
        share, text = (3, 4), "three-quarters"
    budget = memsize_bytes * share[0] // share[1]
    return budget, f"macOS default, {text} of {memsize_bytes / GIB:.0f} GiB"


@dataclass(frozen=True)
class MacProfile:
    """What `system_profiler SPHardwareDataType SPDisplaysDataType` says."""

    chip: str | None = None
    memory_bytes: int | None = None
    gpu_cores: int | None = None


def parse_system_profiler(text: str) -> MacProfile:
    """'Chip: Apple M2 Pro', 'Memory: 32 GB' (GiB, as Apple counts), and the GPU's 'Total
    Number of Cores' under Graphics/Displays."""
    hardware, _, displays = text.partition("Graphics/Displays:")
    chip = re.search(r"^\s*Chip:\s*(.+?)\s*$", hardware, re.M)
    memory = re.search(r"^\s*Memory:\s*(\d+)\s*GB\s*$", hardware, re.M)
    cores = re.search(r"^\s*Total Number of Cores:\s*(\d+)\s*$", displays, re.M)
    return MacProfile(
        chip=chip.group(1) if chip else None,
        memory_bytes=int(memory.group(1)) * GIB if memory else None,
        gpu_cores=int(cores.group(1)) if cores else None,
    )


def read_system_profiler() -> str | None:
    """The hardware and displays report, or None off macOS or on any failure."""
    program = shutil.which("system_profiler")
    if program is None:
        return None
    try:
        done = subprocess.run(
            [program, "SPHardwareDataType", "SPDisplaysDataType"],
            capture_output=True,
            text=True,
            timeout=15,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


class AppleBackend:
    """The Apple GPU as one device with unified memory; elsewhere, not applicable."""

    name = "sysctl"

    def __init__(
        self,
        sysctl: Sysctl = read_sysctl,
        is_apple_silicon: Callable[[], bool] | None = None,
        facts: GpuFactsTable | None = None,
        system_profiler: Callable[[], str | None] = read_system_profiler,
    ) -> None:
        self._sysctl = sysctl
        self._is_apple_silicon = is_apple_silicon or _is_apple_silicon
        self._facts = facts
        self._system_profiler = system_profiler
        self._gpu: GpuSnapshot | None = None

    def open(self) -> BackendStatus:
        if not self._is_apple_silicon():
            return BackendStatus(self.name, available=False, reason="not Apple silicon")
        profile = parse_system_profiler(self._system_profiler() or "")
        memsize = _number(self._sysctl("hw.memsize")) or profile.memory_bytes
        if not memsize:
            return BackendStatus(self.name, available=False, reason="hw.memsize unreadable")
        name = self._sysctl("machdep.cpu.brand_string") or profile.chip or "Apple GPU"
        budget, basis = metal_budget(memsize, _number(self._sysctl("iogpu.wired_limit_mb")))
        self._gpu = GpuSnapshot(
            vendor="Apple",
            index=0,
            name=name,
            memory_total_bytes=memsize,
            unified_memory=True,
            gpu_budget_bytes=budget,
            gpu_budget_basis=basis,
            gpu_cores=profile.gpu_cores,
            facts=(self._facts or GpuFactsTable.load()).match(name),
        )
        return BackendStatus(self.name, available=True, device_count=1)

    def read(self) -> tuple[GpuSnapshot, ...]:
        return (self._gpu,) if self._gpu else ()

    def close(self) -> None:
        self._gpu = None


def _number(text: str | None) -> int | None:
    return int(text) if text is not None and text.strip().isdigit() else None


def _is_apple_silicon() -> bool:
    return sys.platform == "darwin" and platform.machine() == "arm64"
