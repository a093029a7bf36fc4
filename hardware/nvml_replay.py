"""Record a real NVML reading to JSON, and replay it through the `NvmlApi` interface.

A GPU cannot exist on every test machine, so tests (and the TUI's snapshot tests) replay a
reading recorded on a real one. The replay raises real `pynvml.NVMLError` subclasses, so
the production error handling is what gets exercised. Record on a GPU machine with:

    python -m hardware.nvml_replay --source "what this machine is" > reading.json

Format: `driver_version`, `cuda_driver_version`, `devices` (one object per GPU with one key
per NvmlApi method) and optionally `init_error` (an NVML_ERROR_* name without the prefix).
A value `{"nvml_error": "NOT_SUPPORTED"}` replays as that error. A key that is absent replays
as NOT_SUPPORTED too: a reading that does not show a figure must not invent one.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pynvml

from hardware.nvml import ClockDomain, NvmlApi, PynvmlApi

_PER_DEVICE = (
    "name", "uuid", "memory_bytes", "utilization_percent", "temperature_c", "power_usage_mw",
    "power_limit_mw", "total_energy_mj", "pcie_generation", "pcie_width",
    "compute_capability", "processes",
)  # fmt: skip


def nvml_error(name: str) -> pynvml.NVMLError:
    """The pynvml exception for 'NOT_SUPPORTED', 'LIB_RM_VERSION_MISMATCH', ..."""
    return pynvml.NVMLError(getattr(pynvml, f"NVML_ERROR_{name}"))


def nvml_error_name(error: BaseException) -> str:
    """The inverse of `nvml_error`: 'NOT_SUPPORTED' for NVMLError_NotSupported."""
    value = getattr(error, "value", None)
    for key, code in vars(pynvml).items():
        if key.startswith("NVML_ERROR_") and code == value:
            return key.removeprefix("NVML_ERROR_")
    return "UNKNOWN"


class RecordedNvml:
    """An NvmlApi that answers from a recorded reading."""

    error: type[Exception] = pynvml.NVMLError

    def __init__(self, reading: Mapping[str, Any]) -> None:
        self.reading = reading
        self.initialised = False

    @classmethod
    def from_file(cls, path: Path) -> RecordedNvml:
        return cls(json.loads(path.read_text("utf-8")))

    def with_pids(self, renames: Mapping[int, int]) -> RecordedNvml:
        """The same reading with recorded PIDs renamed (to processes that exist here), so
        per-process matching can be tested against live processes."""
        devices = [
            {**d, "processes": [[renames.get(p, p), m] for p, m in d.get("processes", [])]}
            for d in self.reading.get("devices", [])
        ]
        return RecordedNvml({**self.reading, "devices": devices})

    def _value(self, value: Any) -> Any:
        if isinstance(value, Mapping) and "nvml_error" in value:
            raise nvml_error(value["nvml_error"])
        return value

    def _device(self, index: int, key: str) -> Any:
        self._require_init()
        devices = self.reading.get("devices", [])
        if index >= len(devices):
            raise nvml_error("INVALID_ARGUMENT")
        return self._value(devices[index].get(key, {"nvml_error": "NOT_SUPPORTED"}))

    def _require_init(self) -> None:
        if not self.initialised:
            raise nvml_error("UNINITIALIZED")

    def init(self) -> None:
        if self.reading.get("init_error"):
            raise nvml_error(self.reading["init_error"])
        self.initialised = True

    def shutdown(self) -> None:
        self._require_init()
        self.initialised = False

    def driver_version(self) -> str:
        self._require_init()
        return str(self._value(self.reading.get("driver_version", {"nvml_error": "UNKNOWN"})))

    def cuda_driver_version(self) -> int:
        self._require_init()
        return int(self._value(self.reading.get("cuda_driver_version", {"nvml_error": "UNKNOWN"})))

    def device_count(self) -> int:
        self._require_init()
        return len(self.reading.get("devices", []))

    def name(self, index: int) -> str:
        return str(self._device(index, "name"))

    def uuid(self, index: int) -> str:
        return str(self._device(index, "uuid"))

    def memory_bytes(self, index: int) -> tuple[int, int, int]:
        total, used, free = self._device(index, "memory_bytes")
        return int(total), int(used), int(free)

    def utilization_percent(self, index: int) -> tuple[int, int]:
        gpu, memory = self._device(index, "utilization_percent")
        return int(gpu), int(memory)

    def temperature_c(self, index: int) -> int:
        return int(self._device(index, "temperature_c"))

    def power_usage_mw(self, index: int) -> int:
        return int(self._device(index, "power_usage_mw"))

    def power_limit_mw(self, index: int) -> int:
        return int(self._device(index, "power_limit_mw"))

    def total_energy_mj(self, index: int) -> int:
        return int(self._device(index, "total_energy_mj"))

    def clock_mhz(self, index: int, domain: ClockDomain) -> int:
        clocks = self._device(index, "clock_mhz")
        return int(self._value(clocks.get(domain, {"nvml_error": "NOT_SUPPORTED"})))

    def pcie_generation(self, index: int) -> int:
        return int(self._device(index, "pcie_generation"))

    def pcie_width(self, index: int) -> int:
        return int(self._device(index, "pcie_width"))

    def compute_capability(self, index: int) -> tuple[int, int]:
        major, minor = self._device(index, "compute_capability")
        return int(major), int(minor)

    def processes(self, index: int) -> list[tuple[int, int | None]]:
        return [(int(pid), used) for pid, used in self._device(index, "processes")]


def record_nvml(api: NvmlApi, source: str) -> dict[str, Any]:
    """Everything the NvmlApi can say, errors included, in the replay format above."""
    try:
        api.init()
    except api.error as error:
        return {"source": source, "init_error": nvml_error_name(error), "devices": []}
    try:
        return {
            "source": source,
            "driver_version": _recorded(api.driver_version),
            "cuda_driver_version": _recorded(api.cuda_driver_version),
            "devices": [_record_device(api, i) for i in range(api.device_count())],
        }
    finally:
        api.shutdown()


def _record_device(api: NvmlApi, index: int) -> dict[str, Any]:
    device = {key: _recorded(getattr(api, key), index) for key in _PER_DEVICE}
    clocks: tuple[ClockDomain, ...] = ("sm", "memory")
    device["clock_mhz"] = {d: _recorded(api.clock_mhz, index, d) for d in clocks}
    return device


def _recorded(method: Callable[..., Any], *args: Any) -> Any:
    try:
        return method(*args)
    except pynvml.NVMLError as error:
        return {"nvml_error": nvml_error_name(error)}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Record this machine's NVML reading as JSON.")
    parser.add_argument("--source", required=True, help="what and where this reading is")
    args = parser.parse_args(argv)
    json.dump(record_nvml(PynvmlApi.load(), args.source), sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
