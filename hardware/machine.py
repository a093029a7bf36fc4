"""One reading of the whole machine: CPU, memory, disk and every GPU backend, batched.

`MachineReader` opens the GPU libraries once and reads them many times (the sampler's
path); `discover()` is the one-off: open, read, close. Neither raises because a library or
a driver is missing: the snapshot's `backends` say why a GPU is absent.
"""

from __future__ import annotations

import platform
import socket
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from hardware.amd import AmdBackend
from hardware.apple import AppleBackend
from hardware.cpu import rapl_packages, read_cpu_info, read_rapl_uj
from hardware.facts import GpuFactsTable
from hardware.memory import read_disk, read_memory
from hardware.nvml import NvidiaBackend
from hardware.snapshots import BackendStatus, GpuSnapshot, MachineSnapshot


class GpuBackend(Protocol):
    """A GPU library: `open()` once (never raises), `read()` per sample, `close()`."""

    name: str

    def open(self) -> BackendStatus: ...
    def read(self) -> tuple[GpuSnapshot, ...]: ...
    def close(self) -> None: ...


def default_backends(facts: GpuFactsTable | None = None) -> list[GpuBackend]:
    """The GPU libraries that can exist on this OS (no NVML question on a Mac)."""
    facts = facts or GpuFactsTable.load()
    if sys.platform == "darwin":
        return [AppleBackend(facts=facts)]
    backends: list[GpuBackend] = [NvidiaBackend(facts=facts)]
    if sys.platform.startswith("linux"):
        backends.append(AmdBackend(facts=facts))
    return backends


class MachineReader:
    """Reads the machine in one batch; GPU libraries stay open between reads."""

    def __init__(
        self,
        model_dir: Path | None = None,
        backends: Sequence[GpuBackend] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.model_dir = model_dir
        self._backends = list(default_backends() if backends is None else backends)
        self._clock = clock
        self._cpu = read_cpu_info()
        self._rapl = rapl_packages()
        self._statuses: tuple[BackendStatus, ...] = ()
        self._hostname = socket.gethostname()
        self._os = f"{platform.system()} {platform.release()}".strip()
        self._open = False

    def open(self) -> tuple[BackendStatus, ...]:
        """Start the GPU libraries (idempotent); their statuses go into every snapshot."""
        if not self._open:
            self._statuses = tuple(backend.open() for backend in self._backends)
            self._open = True
        return self._statuses

    def read(self) -> MachineSnapshot:
        """One batched reading; CPU utilisation and power need two readings (the sampler)."""
        self.open()
        return MachineSnapshot(
            timestamp_s=self._clock(),
            hostname=self._hostname,
            os=self._os,
            cpu=self._cpu.snapshot(package_energy_uj=read_rapl_uj(self._rapl)),
            memory=read_memory(),
            disk=read_disk(self.model_dir),
            gpus=tuple(gpu for backend in self._backends for gpu in backend.read()),
            backends=self._statuses,
        )

    def close(self) -> None:
        for backend in self._backends:
            backend.close()
        self._open = False


def discover(
    model_dir: Path | None = None, backends: Sequence[GpuBackend] | None = None
) -> MachineSnapshot:
    """What this machine has, right now. Never raises for a missing library or driver."""
    reader = MachineReader(model_dir=model_dir, backends=backends)
    try:
        return reader.read()
    finally:
        reader.close()
