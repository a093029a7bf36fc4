"""NVIDIA GPUs through NVML, behind a thin interface that a recorded reading can replace.

All pynvml calls live in `PynvmlApi`; everything else talks to the `NvmlApi` protocol, so
tests replay a real reading (`hardware.nvml_replay.RecordedNvml`) through the same error
handling production uses. A call the GPU does not support gives None for that one field.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Literal, Protocol, TypeVar

from hardware.facts import GpuFactsTable
from hardware.snapshots import BackendStatus, GpuFacts, GpuSnapshot, gpu_processes

log = logging.getLogger(__name__)
T = TypeVar("T")
ClockDomain = Literal["sm", "memory"]

# Why NVML would not start, in the words a user can act on (keyed by pynvml's class name).
_INIT_REASONS = {
    "NVMLError_LibraryNotFound": "library not found (no NVIDIA driver installed)",
    "NVMLError_DriverNotLoaded": "driver not loaded",
    "NVMLError_LibRmVersionMismatch": "driver/library version mismatch (reboot, or reload "
    "the nvidia kernel module)",
    "NVMLError_NoPermission": "no permission to open the GPU device files",
    "NVMLError_FunctionNotFound": "driver too old for this nvidia-ml-py",
}


class NvmlApi(Protocol):
    """The NVML calls hostbench makes, with plain Python results.

    Every method may raise `error` (pynvml.NVMLError or one of its subclasses).
    """

    error: type[Exception]

    def init(self) -> None: ...
    def shutdown(self) -> None: ...
    def driver_version(self) -> str: ...
    def cuda_driver_version(self) -> int: ...
    def device_count(self) -> int: ...
    def name(self, index: int) -> str: ...
    def uuid(self, index: int) -> str: ...
    def memory_bytes(self, index: int) -> tuple[int, int, int]:
        """(total, used, free), with used excluding driver-reserved memory where NVML can."""
        ...

    def utilization_percent(self, index: int) -> tuple[int, int]:
        """(gpu, memory) busy percent over the driver's last sample period."""
        ...

    def temperature_c(self, index: int) -> int: ...
    def power_usage_mw(self, index: int) -> int: ...
    def power_limit_mw(self, index: int) -> int: ...
    def total_energy_mj(self, index: int) -> int: ...
    def clock_mhz(self, index: int, domain: ClockDomain) -> int: ...
    def pcie_generation(self, index: int) -> int: ...
    def pcie_width(self, index: int) -> int: ...
    def compute_capability(self, index: int) -> tuple[int, int]: ...
    def processes(self, index: int) -> list[tuple[int, int | None]]:
        """(pid, used bytes or None) of compute and graphics processes, one entry per pid."""
        ...


class PynvmlApi:
    """NvmlApi over nvidia-ml-py. Device handles are looked up once per index."""

    def __init__(self, pynvml: ModuleType) -> None:
        self._nv = pynvml
        self.error: type[Exception] = pynvml.NVMLError
        self._handles: dict[int, Any] = {}

    @classmethod
    def load(cls) -> PynvmlApi:
        """Raises ImportError when nvidia-ml-py is not installed."""
        import pynvml

        return cls(pynvml)

    def init(self) -> None:
        self._nv.nvmlInit()

    def shutdown(self) -> None:
        self._handles.clear()
        self._nv.nvmlShutdown()

    def driver_version(self) -> str:
        return str(self._nv.nvmlSystemGetDriverVersion())

    def cuda_driver_version(self) -> int:
        return int(self._nv.nvmlSystemGetCudaDriverVersion())

    def device_count(self) -> int:
        return int(self._nv.nvmlDeviceGetCount())

    def _handle(self, index: int) -> Any:
        if index not in self._handles:
            self._handles[index] = self._nv.nvmlDeviceGetHandleByIndex(index)
        return self._handles[index]

    def name(self, index: int) -> str:
        return str(self._nv.nvmlDeviceGetName(self._handle(index)))

    def uuid(self, index: int) -> str:
        return str(self._nv.nvmlDeviceGetUUID(self._handle(index)))

    def memory_bytes(self, index: int) -> tuple[int, int, int]:
        handle = self._handle(index)
        try:  # v2 separates reserved memory from used, as nvidia-smi shows it
            info = self._nv.nvmlDeviceGetMemoryInfo(handle, version=self._nv.nvmlMemory_v2)
        except (self.error, AttributeError):
            info = self._nv.nvmlDeviceGetMemoryInfo(handle)
        return int(info.total), int(info.used), int(info.free)

    def utilization_percent(self, index: int) -> tuple[int, int]:
        rates = self._nv.nvmlDeviceGetUtilizationRates(self._handle(index))
        return int(rates.gpu), int(rates.memory)

    def temperature_c(self, index: int) -> int:
        nv = self._nv
        return int(nv.nvmlDeviceGetTemperature(self._handle(index), nv.NVML_TEMPERATURE_GPU))

    def power_usage_mw(self, index: int) -> int:
        return int(self._nv.nvmlDeviceGetPowerUsage(self._handle(index)))

    def power_limit_mw(self, index: int) -> int:
        return int(self._nv.nvmlDeviceGetEnforcedPowerLimit(self._handle(index)))

    def total_energy_mj(self, index: int) -> int:
        return int(self._nv.nvmlDeviceGetTotalEnergyConsumption(self._handle(index)))

    def clock_mhz(self, index: int, domain: ClockDomain) -> int:
        clock = self._nv.NVML_CLOCK_SM if domain == "sm" else self._nv.NVML_CLOCK_MEM
        return int(self._nv.nvmlDeviceGetClockInfo(self._handle(index), clock))

    def pcie_generation(self, index: int) -> int:
        return int(self._nv.nvmlDeviceGetCurrPcieLinkGeneration(self._handle(index)))

    def pcie_width(self, index: int) -> int:
        return int(self._nv.nvmlDeviceGetCurrPcieLinkWidth(self._handle(index)))

    def compute_capability(self, index: int) -> tuple[int, int]:
        major, minor = self._nv.nvmlDeviceGetCudaComputeCapability(self._handle(index))
        return int(major), int(minor)

    def processes(self, index: int) -> list[tuple[int, int | None]]:
        handle = self._handle(index)
        found: dict[int, int | None] = {}
        for lister in (
            self._nv.nvmlDeviceGetComputeRunningProcesses,
            self._nv.nvmlDeviceGetGraphicsRunningProcesses,
        ):
            for proc in lister(handle):
                found.setdefault(int(proc.pid), proc.usedGpuMemory)
        return list(found.items())


def init_failure_reason(error: BaseException) -> str:
    """A short reason for the user, e.g. 'driver/library version mismatch (...)'."""
    return _INIT_REASONS.get(type(error).__name__, f"initialisation failed: {error}")


@dataclass(frozen=True)
class _StaticDevice:
    """What does not change while the driver is loaded; read once when the backend opens."""

    name: str
    uuid: str | None
    compute_capability: str | None
    facts: GpuFacts | None


class NvidiaBackend:
    """NVIDIA GPUs: `open()` once, `read()` each sample (a batch of NVML calls), `close()`."""

    name = "NVML"

    def __init__(
        self,
        api_factory: Callable[[], NvmlApi] = PynvmlApi.load,
        facts: GpuFactsTable | None = None,
    ) -> None:
        self._api_factory = api_factory
        self._facts = facts
        self._api: NvmlApi | None = None
        self._devices: Sequence[_StaticDevice] = ()
        self._driver: str | None = None
        self._cuda: str | None = None

    def open(self) -> BackendStatus:
        """Start NVML; never raises: a missing library or driver becomes the reason."""
        try:
            api = self._api_factory()
        except ImportError:
            return BackendStatus(self.name, available=False, reason="nvidia-ml-py not installed")
        try:
            api.init()
        except api.error as error:
            return BackendStatus(self.name, available=False, reason=init_failure_reason(error))
        self._api = api
        self._driver = _call(api, api.driver_version)
        self._cuda = _cuda_text(_call(api, api.cuda_driver_version))
        count = _call(api, api.device_count) or 0
        facts = self._facts or GpuFactsTable.load()
        self._devices = [_static(api, i, facts) for i in range(count)]
        reason = None if count else "no NVIDIA GPU found"
        return BackendStatus(self.name, True, count, reason, self._driver)

    def read(self) -> tuple[GpuSnapshot, ...]:
        api = self._api
        if api is None:
            return ()
        return tuple(self._read_device(api, i, d) for i, d in enumerate(self._devices))

    def _read_device(self, api: NvmlApi, index: int, device: _StaticDevice) -> GpuSnapshot:
        memory = _call(api, api.memory_bytes, index) or (None, None, None)
        util = _call(api, api.utilization_percent, index) or (None, None)
        return GpuSnapshot(
            vendor="NVIDIA",
            index=index,
            name=device.name,
            uuid=device.uuid,
            memory_total_bytes=memory[0],
            memory_used_bytes=memory[1],
            memory_free_bytes=memory[2],
            utilization_gpu_percent=util[0],
            utilization_memory_percent=util[1],
            temperature_c=_call(api, api.temperature_c, index),
            power_draw_w=_milli(_call(api, api.power_usage_mw, index)),
            power_limit_w=_milli(_call(api, api.power_limit_mw, index)),
            energy_total_mj=_call(api, api.total_energy_mj, index),
            sm_clock_mhz=_call(api, api.clock_mhz, index, "sm"),
            memory_clock_mhz=_call(api, api.clock_mhz, index, "memory"),
            pcie_generation=_call(api, api.pcie_generation, index),
            pcie_width=_call(api, api.pcie_width, index),
            compute_capability=device.compute_capability,
            driver_version=self._driver,
            cuda_driver_version=self._cuda,
            processes=gpu_processes(_call(api, api.processes, index)),
            facts=device.facts,
        )

    def close(self) -> None:
        api, self._api = self._api, None
        if api is not None:
            _call(api, api.shutdown)


def _static(api: NvmlApi, index: int, facts: GpuFactsTable) -> _StaticDevice:
    name = _call(api, api.name, index) or f"NVIDIA GPU {index}"
    memory = _call(api, api.memory_bytes, index)
    cc = _call(api, api.compute_capability, index)
    return _StaticDevice(
        name=name,
        uuid=_call(api, api.uuid, index),
        compute_capability=f"{cc[0]}.{cc[1]}" if cc else None,
        facts=facts.match(name, memory[0] if memory else None),
    )


def _call(api: NvmlApi, method: Callable[..., T], *args: Any) -> T | None:
    """One NVML call; NotSupported, NoPermission, GpuIsLost, ... give None for that field."""
    try:
        return method(*args)
    except api.error as error:
        log.debug("NVML %s%s: %s", getattr(method, "__name__", method), args, error)
        return None


def _milli(value: int | None) -> float | None:
    return None if value is None else value / 1000


def _cuda_text(version: int | None) -> str | None:
    """NVML encodes CUDA 12.8 as 12080."""
    return None if version is None else f"{version // 1000}.{version % 1000 // 10}"
