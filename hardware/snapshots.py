"""What a reading of the machine looks like: frozen snapshots, units in the field names.

Every figure a driver or the OS cannot give is `None`, never an exception and never a
made-up zero, so a front end can print "-" and a cost model can fall back to a profile's
figure. Snapshots are plain data: `snapshot_to_dict` / `snapshot_from_dict` round-trip them
through JSON for the control API and for stored bench runs.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class GpuFacts:
    """Published figures for a GPU model (from `hardware/data/gpus.json`), not measurements.

    They bound what a measurement can reach: decode tokens/s at batch 1 cannot beat
    `memory_bandwidth_gbps` divided by the bytes read per token.
    """

    name: str
    vendor: str
    memory_gib: float | None
    memory_bandwidth_gbps: float | None
    fp16_dense_tflops: float | None
    tdp_w: float | None
    sources: tuple[str, ...]
    retrieved: str


@dataclass(frozen=True)
class GpuProcess:
    """A process the driver lists on a GPU; `used_memory_bytes` is None where the driver
    does not account per process (Windows WDDM, some containers)."""

    pid: int
    used_memory_bytes: int | None


def gpu_processes(found: list[tuple[int, int | None]] | None) -> tuple[GpuProcess, ...] | None:
    """(pid, bytes) pairs from a driver as GpuProcess entries; None stays None (unknown)."""
    return None if found is None else tuple(GpuProcess(pid, used) for pid, used in found)


@dataclass(frozen=True)
class GpuSnapshot:
    vendor: str
    """"NVIDIA", "AMD" or "Apple"."""
    index: int
    name: str
    uuid: str | None = None
    memory_total_bytes: int | None = None
    memory_used_bytes: int | None = None
    memory_free_bytes: int | None = None
    unified_memory: bool = False
    """True where the GPU shares system RAM (Apple silicon): fit estimates then use RAM."""
    gpu_budget_bytes: int | None = None
    """Of unified memory, what the GPU may use (Metal's recommendedMaxWorkingSetSize as
    macOS sets it: hardware.apple); None for dedicated memory or where unknown."""
    gpu_budget_basis: str | None = None
    """Where `gpu_budget_bytes` comes from, e.g. 'iogpu.wired_limit_mb = 26000'."""
    gpu_cores: int | None = None
    """GPU cores where the OS reports them (system_profiler on a Mac)."""
    utilization_gpu_percent: float | None = None
    utilization_memory_percent: float | None = None
    temperature_c: float | None = None
    power_draw_w: float | None = None
    power_limit_w: float | None = None
    energy_total_mj: int | None = None
    """Energy counter since the driver loaded (NVML, Volta and newer); diff two readings."""
    sm_clock_mhz: int | None = None
    memory_clock_mhz: int | None = None
    pcie_generation: int | None = None
    pcie_width: int | None = None
    compute_capability: str | None = None
    driver_version: str | None = None
    cuda_driver_version: str | None = None
    processes: tuple[GpuProcess, ...] | None = None
    """None where the driver cannot list processes (not the same as an empty list)."""
    facts: GpuFacts | None = None


@dataclass(frozen=True)
class BackendStatus:
    """Whether one GPU backend answered, and if not, why (shown to the user verbatim)."""

    name: str
    """"NVML", "amdsmi" or "sysctl"."""
    available: bool
    device_count: int = 0
    reason: str | None = None
    driver_version: str | None = None


@dataclass(frozen=True)
class CpuSnapshot:
    model_name: str | None
    architecture: str
    physical_cores: int | None
    logical_cores: int | None
    simd_flags: tuple[str, ...]
    """The CPU flags llama.cpp's kernels care about, as the OS spells them."""
    avx2: bool | None
    avx512: bool | None
    amx: bool | None
    neon: bool | None
    utilization_percent: float | None = None
    """Whole-machine CPU use since the previous sample; None for a one-off reading."""
    package_energy_uj: int | None = None
    """RAPL package energy counter summed over sockets; None where not readable."""
    package_power_w: float | None = None
    """RAPL energy difference over the previous sample; None for a one-off reading."""


@dataclass(frozen=True)
class MemorySnapshot:
    ram_total_bytes: int
    ram_available_bytes: int
    swap_total_bytes: int
    swap_used_bytes: int


@dataclass(frozen=True)
class DiskSnapshot:
    """Space where models are stored; measured on the nearest existing ancestor of `path`."""

    path: str
    total_bytes: int
    free_bytes: int


@dataclass(frozen=True)
class ProcessSnapshot:
    """One supervised process (an engine), matched by PID."""

    name: str
    pid: int
    rss_bytes: int
    cpu_percent: float | None
    """Percent of one core since the previous sample (can exceed 100); None on first sight."""
    gpu_memory_bytes: int | None
    """Sum over GPUs from the driver's process list; None where no driver lists processes."""
    gpu_indices: tuple[int, ...] = ()


@dataclass(frozen=True)
class MachineSnapshot:
    timestamp_s: float
    """Unix time of the reading."""
    hostname: str
    os: str
    cpu: CpuSnapshot
    memory: MemorySnapshot
    disk: DiskSnapshot | None
    gpus: tuple[GpuSnapshot, ...]
    backends: tuple[BackendStatus, ...]
    processes: tuple[ProcessSnapshot, ...] = field(default=())

    @property
    def gpu_absence_reason(self) -> str | None:
        """Why no GPU is listed ("NVML: library not found; amdsmi: not installed"), or None."""
        if self.gpus:
            return None
        reasons = [f"{b.name}: {b.reason}" if b.reason else b.name for b in self.backends]
        return "; ".join(reasons) or "no GPU backend for this platform"


def snapshot_to_dict(snapshot: Any) -> dict[str, Any]:
    """Plain JSON-ready dict of any snapshot above (tuples become lists)."""
    if not dataclasses.is_dataclass(snapshot) or isinstance(snapshot, type):
        raise TypeError(f"not a snapshot: {type(snapshot).__name__}")
    return dataclasses.asdict(snapshot)


def snapshot_from_dict(data: dict[str, Any]) -> MachineSnapshot:
    """The inverse of `snapshot_to_dict` for a MachineSnapshot (e.g. one the server sent)."""
    return MachineSnapshot(
        timestamp_s=data["timestamp_s"],
        hostname=data["hostname"],
        os=data["os"],
        cpu=CpuSnapshot(**{**data["cpu"], "simd_flags": tuple(data["cpu"]["simd_flags"])}),
        memory=MemorySnapshot(**data["memory"]),
        disk=DiskSnapshot(**data["disk"]) if data.get("disk") else None,
        gpus=tuple(_gpu_from_dict(g) for g in data["gpus"]),
        backends=tuple(BackendStatus(**b) for b in data["backends"]),
        processes=tuple(
            ProcessSnapshot(**{**p, "gpu_indices": tuple(p["gpu_indices"])})
            for p in data.get("processes", ())
        ),
    )


def _gpu_from_dict(data: dict[str, Any]) -> GpuSnapshot:
    facts = data.get("facts")
    return GpuSnapshot(
        **{
            **data,
            "processes": None
            if data.get("processes") is None
            else tuple(GpuProcess(**p) for p in data["processes"]),
            "facts": GpuFacts(**{**facts, "sources": tuple(facts["sources"])}) if facts else None,
        }
    )
