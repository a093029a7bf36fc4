"""What this machine has: CPU, memory, disk, GPUs, and live telemetry.

It imports nothing else from the project (only `storage` is below it). Public surface:

- `discover(model_dir=None) -> MachineSnapshot`: one reading; never raises because a GPU
  library or driver is missing (`MachineSnapshot.gpu_absence_reason` says why).
- `Sampler`: background sampling into a ring buffer (`start`, `stop`, `sample`, `latest`,
  `history`), with per-process figures for the PIDs a supervisor names.
- Frozen snapshot types with units in their field names, and `snapshot_to_dict` /
  `snapshot_from_dict` for JSON.
- `GpuFactsTable`: the shipped, dated table of published GPU figures.
- `physical_core_count()`.

Replaying a recorded NVML reading (for tests on machines without a GPU) lives in
`hardware.nvml_replay`, which imports pynvml and so is not loaded here.
"""

from hardware.cpu import physical_core_count
from hardware.facts import GpuFactsTable
from hardware.machine import GpuBackend, MachineReader, default_backends, discover
from hardware.nvml import NvidiaBackend, NvmlApi, PynvmlApi
from hardware.sampler import Sampler
from hardware.snapshots import (
    BackendStatus,
    CpuSnapshot,
    DiskSnapshot,
    GpuFacts,
    GpuProcess,
    GpuSnapshot,
    MachineSnapshot,
    MemorySnapshot,
    ProcessSnapshot,
    snapshot_from_dict,
    snapshot_to_dict,
)

__all__ = [
    "BackendStatus",
    "CpuSnapshot",
    "DiskSnapshot",
    "GpuBackend",
    "GpuFacts",
    "GpuFactsTable",
    "GpuProcess",
    "GpuSnapshot",
    "MachineReader",
    "MachineSnapshot",
    "MemorySnapshot",
    "NvidiaBackend",
    "NvmlApi",
    "ProcessSnapshot",
    "PynvmlApi",
    "Sampler",
    "default_backends",
    "discover",
    "physical_core_count",
    "snapshot_from_dict",
    "snapshot_to_dict",
]
