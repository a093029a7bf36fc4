"""AMD GPUs through `amdsmi` (the optional extra `hostbench[amd]`), when it is installed.

The amdsmi Python binding has changed its dict keys and units between ROCm releases, so
`AmdsmiLibrary` converts whatever the installed version returns into plain units, and any
field it cannot read is None. Like NVML, it sits behind a small protocol so a recorded
reading can stand in for a GPU in tests.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from types import ModuleType
from typing import Any, Literal, Protocol, TypeVar

from hardware.facts import GpuFactsTable
from hardware.snapshots import BackendStatus, GpuSnapshot, gpu_processes

log = logging.getLogger(__name__)
T = TypeVar("T")
AmdClock = Literal["gfx", "mem"]
# PCIe transfer rate per lane (MT/s) -> generation.
_PCIE_GEN_BY_RATE = {2500: 1, 5000: 2, 8000: 3, 16000: 4, 32000: 5, 64000: 6}


class FieldUnavailable(Exception):
    """The installed amdsmi did not give this figure (missing key, 'N/A', other shape)."""


class AmdSmiApi(Protocol):
    """The amdsmi calls hostbench makes, in plain units. Each may raise one of `errors`."""

    errors: tuple[type[Exception], ...]

    def init(self) -> None: ...
    def shutdown(self) -> None: ...
    def device_count(self) -> int: ...
    def name(self, index: int) -> str: ...
    def uuid(self, index: int) -> str: ...
    def driver_version(self, index: int) -> str: ...
    def vram_bytes(self, index: int) -> tuple[int, int]:
        """(total, used)."""
        ...

    def activity_percent(self, index: int) -> tuple[float, float | None]:
        """(graphics engine, memory controller) busy percent; consumer Radeons often have no
        memory-controller figure."""
        ...

    def temperature_c(self, index: int) -> float: ...
    def power_w(self, index: int) -> float: ...
    def power_limit_w(self, index: int) -> float: ...
    def energy_uj(self, index: int) -> float: ...
    def clock_mhz(self, index: int, clock: AmdClock) -> int: ...
    def pcie_link(self, index: int) -> tuple[int, int]:
        """(generation, width)."""
        ...

    def processes(self, index: int) -> list[tuple[int, int | None]]: ...


class AmdsmiLibrary:
    """AmdSmiApi over the `amdsmi` module."""

    def __init__(self, amdsmi: ModuleType) -> None:
        self._smi = amdsmi
        self.errors: tuple[type[Exception], ...] = (amdsmi.AmdSmiException, FieldUnavailable)
        self._handles: list[Any] = []

    @classmethod
    def load(cls) -> AmdsmiLibrary:
        """Raises ImportError when amdsmi is not installed (or its library is missing)."""
        import amdsmi

        return cls(amdsmi)

    def init(self) -> None:
        self._smi.amdsmi_init(self._smi.AmdSmiInitFlags.INIT_AMD_GPUS)
        self._handles = list(self._smi.amdsmi_get_processor_handles())

    def shutdown(self) -> None:
        self._handles = []
        self._smi.amdsmi_shut_down()

    def device_count(self) -> int:
        return len(self._handles)

    def _ask(self, function: str, index: int, *args: Any) -> Any:
        try:
            return getattr(self._smi, function)(self._handles[index], *args)
        except (AttributeError, IndexError, TypeError) as error:
            raise FieldUnavailable(f"{function}: {error}") from error

    def name(self, index: int) -> str:
        return str(_key(self._ask("amdsmi_get_gpu_asic_info", index), "market_name"))

    def uuid(self, index: int) -> str:
        return str(self._ask("amdsmi_get_gpu_device_uuid", index))

    def driver_version(self, index: int) -> str:
        return str(_key(self._ask("amdsmi_get_gpu_driver_info", index), "driver_version"))

    def vram_bytes(self, index: int) -> tuple[int, int]:
        vram = self._smi.AmdSmiMemoryType.VRAM
        total = self._ask("amdsmi_get_gpu_memory_total", index, vram)
        used = self._ask("amdsmi_get_gpu_memory_usage", index, vram)
        return int(_number(total)), int(_number(used))

    def activity_percent(self, index: int) -> tuple[float, float | None]:
        activity = self._ask("amdsmi_get_gpu_activity", index)
        umc = activity.get("umc_activity") if isinstance(activity, Mapping) else None
        return _number(_key(activity, "gfx_activity")), _figure(umc)

    def temperature_c(self, index: int) -> float:
        kinds = self._smi.AmdSmiTemperatureType
        current = self._smi.AmdSmiTemperatureMetric.CURRENT
        try:  # MI300-class parts have no edge sensor, only the hotspot (junction)
            return _number(self._ask("amdsmi_get_temp_metric", index, kinds.EDGE, current))
        except self.errors:
            return _number(self._ask("amdsmi_get_temp_metric", index, kinds.HOTSPOT, current))

    def power_w(self, index: int) -> float:
        info = self._ask("amdsmi_get_power_info", index)
        for key in ("current_socket_power", "average_socket_power", "socket_power"):
            if _is_number(info.get(key)):
                return float(info[key])
        raise FieldUnavailable("no socket power")

    def power_limit_w(self, index: int) -> float:
        limit = _number(_key(self._ask("amdsmi_get_power_info", index), "power_limit"))
        # Documented as W up to ROCm 7.1 and as uW in later headers; no board draws 10 kW.
        return limit / 1e6 if limit > 10_000 else limit

    def energy_uj(self, index: int) -> float:
        counter = self._ask("amdsmi_get_energy_count", index)
        raw = counter.get("energy_accumulator", counter.get("power"))
        return _number(raw) * _number(_key(counter, "counter_resolution"))

    def clock_mhz(self, index: int, clock: AmdClock) -> int:
        kind = self._smi.AmdSmiClkType.GFX if clock == "gfx" else self._smi.AmdSmiClkType.MEM
        return int(_number(_key(self._ask("amdsmi_get_clock_info", index, kind), "clk")))

    def pcie_link(self, index: int) -> tuple[int, int]:
        metric = _key(self._ask("amdsmi_get_pcie_info", index), "pcie_metric")
        rate = int(_number(_key(metric, "pcie_speed")))
        if rate not in _PCIE_GEN_BY_RATE:
            raise FieldUnavailable(f"unknown PCIe rate {rate}")
        return _PCIE_GEN_BY_RATE[rate], int(_number(_key(metric, "pcie_width")))

    def processes(self, index: int) -> list[tuple[int, int | None]]:
        found = []
        for proc in self._ask("amdsmi_get_gpu_process_list", index):
            info = proc if isinstance(proc, Mapping) else self._process_info(index, proc)
            usage = info.get("memory_usage") or {}
            used = usage.get("vram_mem", info.get("mem"))
            pid = int(_number(_key(info, "pid")))
            found.append((pid, int(_number(used)) if _is_number(used) else None))
        return found

    def _process_info(self, index: int, proc: Any) -> Mapping[str, Any]:
        """Older bindings list process handles that need a second call."""
        return dict(self._ask("amdsmi_get_gpu_process_info", index, proc))


def visible_devices(count: int, env: Mapping[str, str]) -> tuple[list[int], str | None]:
    """The GPUs (amdsmi's indices) a ROCm program started with `env` can use, and a note
    saying which variable narrowed them.

    amdsmi lists every GPU whatever the environment; the runtimes do not. ROCR_VISIBLE_DEVICES
    selects first; HIP_VISIBLE_DEVICES (or, when it is unset, CUDA_VISIBLE_DEVICES, which
    HIP also reads) then counts among what is left (ROCm "GPU isolation techniques";
    PyTorch's device count does the same: https://github.com/pytorch/pytorch/pull/142292).
    As in CUDA, the list ends at the first entry that is not a valid index; GPU UUIDs are
    not matched (amdsmi's UUIDs are not the runtime's) and end it too."""
    seen, said = list(range(count)), []
    hip = "HIP_VISIBLE_DEVICES" if "HIP_VISIBLE_DEVICES" in env else "CUDA_VISIBLE_DEVICES"
    for name in ("ROCR_VISIBLE_DEVICES", hip):
        if name in env:
            seen = _select(seen, env[name])
            said.append(f"{name}={env[name]}")
    if not said:
        return seen, None
    return seen, f"{', '.join(said)}: {len(seen)} of {count} GPU(s) visible"


def _select(seen: Sequence[int], text: str) -> list[int]:
    chosen: list[int] = []
    for token in (t.strip() for t in text.split(",")):
        if not token.isdigit() or int(token) >= len(seen) or seen[int(token)] in chosen:
            break
        chosen.append(seen[int(token)])
    return chosen


class AmdBackend:
    """AMD GPUs: `open()` once, `read()` each sample, `close()`. Only the GPUs the ROCm
    environment variables leave visible are listed, with amdsmi's (PCI order) indices."""

    name = "amdsmi"

    def __init__(
        self,
        api_factory: Callable[[], AmdSmiApi] = AmdsmiLibrary.load,
        facts: GpuFactsTable | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self._api_factory = api_factory
        self._facts = facts
        self._env = env
        self._api: AmdSmiApi | None = None
        self._static: list[GpuSnapshot] = []

    def open(self) -> BackendStatus:
        """Start amdsmi; never raises: not installed or no driver becomes the reason."""
        try:
            api = self._api_factory()
        except ImportError:
            return BackendStatus(self.name, available=False, reason="not installed")
        try:
            api.init()
        except api.errors as error:
            return BackendStatus(self.name, available=False, reason=f"init failed: {error}")
        self._api = api
        facts = self._facts or GpuFactsTable.load()
        count = _call(api, api.device_count) or 0
        env = os.environ if self._env is None else self._env
        visible, note = visible_devices(count, env)
        self._static = [_static(api, i, facts) for i in visible]
        driver = self._static[0].driver_version if self._static else None
        reason = note if self._static or count else "no AMD GPU found"
        return BackendStatus(self.name, True, len(self._static), reason, driver)

    def read(self) -> tuple[GpuSnapshot, ...]:
        api = self._api
        if api is None:
            return ()
        return tuple(_read(api, static.index, static) for static in self._static)

    def close(self) -> None:
        api, self._api = self._api, None
        if api is not None:
            _call(api, api.shutdown)


def _static(api: AmdSmiApi, index: int, facts: GpuFactsTable) -> GpuSnapshot:
    """The fields that do not change, as a snapshot that `_read` fills in."""
    name = _call(api, api.name, index) or f"AMD GPU {index}"
    vram = _call(api, api.vram_bytes, index)
    return GpuSnapshot(
        vendor="AMD",
        index=index,
        name=name,
        uuid=_call(api, api.uuid, index),
        driver_version=_call(api, api.driver_version, index),
        facts=facts.match(name, vram[0] if vram else None),
    )


def _read(api: AmdSmiApi, index: int, static: GpuSnapshot) -> GpuSnapshot:
    vram = _call(api, api.vram_bytes, index)
    activity = _call(api, api.activity_percent, index) or (None, None)
    link = _call(api, api.pcie_link, index) or (None, None)
    energy_uj = _call(api, api.energy_uj, index)
    return dataclasses.replace(
        static,
        memory_total_bytes=vram[0] if vram else None,
        memory_used_bytes=vram[1] if vram else None,
        memory_free_bytes=vram[0] - vram[1] if vram else None,
        utilization_gpu_percent=activity[0],
        utilization_memory_percent=activity[1],
        temperature_c=_call(api, api.temperature_c, index),
        power_draw_w=_call(api, api.power_w, index),
        power_limit_w=_call(api, api.power_limit_w, index),
        energy_total_mj=None if energy_uj is None else int(energy_uj // 1000),
        sm_clock_mhz=_call(api, api.clock_mhz, index, "gfx"),
        memory_clock_mhz=_call(api, api.clock_mhz, index, "mem"),
        pcie_generation=link[0],
        pcie_width=link[1],
        processes=gpu_processes(_call(api, api.processes, index)),
    )


def _call(api: AmdSmiApi, method: Callable[..., T], *args: Any) -> T | None:
    try:
        return method(*args)
    except api.errors as error:
        log.debug("amdsmi %s%s: %s", getattr(method, "__name__", method), args, error)
        return None


def _key(mapping: Any, key: str) -> Any:
    if not isinstance(mapping, Mapping) or key not in mapping:
        raise FieldUnavailable(f"no {key!r}")
    return mapping[key]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _figure(value: Any) -> float | None:
    """A figure amdsmi may leave out ('N/A'): None instead of failing the whole call."""
    try:
        return _number(value)
    except FieldUnavailable:
        return None


def _number(value: Any) -> float:
    """amdsmi writes 'N/A' (or UINT32_MAX) where a figure is not supported."""
    if not _is_number(value) or value in (0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF):
        raise FieldUnavailable(f"not a figure: {value!r}")
    return float(value)
