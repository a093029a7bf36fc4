"""A stand-in for the `amdsmi` Python module answering from recorded readings, so that
`hardware.amd.AmdsmiLibrary` (the code that turns amdsmi's dicts into figures) is what the
tests run. A call whose figure a reading lacks raises AmdSmiException, as amdsmi does for a
figure the GPU does not support.

Readings come as the amd-smi CLI's JSON or default view, or rocm-smi's JSON
(tests/fixtures/amd, each with its source), and are turned into what the Python API's calls
return: amd-smi is written on that module (amdsmi_cli/amdsmi_commands.py imports
amdsmi.amdsmi_interface) and prints what its calls return, with units added
(`{"value": 42, "unit": "%"}` in JSON, MB of 2^20 bytes for memory in text)."""

from __future__ import annotations

import re
import types
from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any


class AmdSmiException(Exception):
    pass


def _answer(devices: list[dict[str, Any]], function: str) -> Any:
    def call(handle: int, *args: Any) -> Any:
        value = devices[handle].get(function)
        if value is None:
            raise AmdSmiException(f"{function}: not in the recording")
        return value

    return call


FUNCTIONS = (
    "amdsmi_get_gpu_asic_info", "amdsmi_get_gpu_device_uuid", "amdsmi_get_gpu_driver_info",
    "amdsmi_get_gpu_memory_total", "amdsmi_get_gpu_memory_usage", "amdsmi_get_gpu_activity",
    "amdsmi_get_temp_metric", "amdsmi_get_power_info", "amdsmi_get_energy_count",
    "amdsmi_get_clock_info", "amdsmi_get_pcie_info", "amdsmi_get_gpu_process_list",
)  # fmt: skip


def recorded_amdsmi(devices: list[dict[str, Any]]) -> types.ModuleType:
    """An `amdsmi` module whose processor handles are the recorded devices' indices."""
    module = types.ModuleType("amdsmi")
    module.AmdSmiException = AmdSmiException  # type: ignore[attr-defined]
    module.AmdSmiInitFlags = SimpleNamespace(INIT_AMD_GPUS=2)  # type: ignore[attr-defined]
    module.AmdSmiMemoryType = SimpleNamespace(VRAM=0)  # type: ignore[attr-defined]
    module.AmdSmiTemperatureType = SimpleNamespace(EDGE=0, HOTSPOT=1)  # type: ignore[attr-defined]
    module.AmdSmiTemperatureMetric = SimpleNamespace(CURRENT=0)  # type: ignore[attr-defined]
    module.AmdSmiClkType = SimpleNamespace(GFX=0, MEM=1)  # type: ignore[attr-defined]
    module.amdsmi_init = lambda flags: None  # type: ignore[attr-defined]
    module.amdsmi_shut_down = lambda: None  # type: ignore[attr-defined]
    handles = list(range(len(devices)))
    module.amdsmi_get_processor_handles = lambda: handles  # type: ignore[attr-defined]
    for function in FUNCTIONS:
        setattr(module, function, _answer(devices, function))
    return module


def _plain(value: Any) -> Any:
    """amd-smi prints {"value": 42, "unit": "%"}; the Python API returns 42."""
    return value["value"] if isinstance(value, Mapping) and "value" in value else value


def from_amd_smi_metric(entry: Mapping[str, Any]) -> dict[str, Any]:
    """One GPU of `amd-smi metric --json` as the Python API's answers."""
    usage = entry.get("usage", {})
    names = ("gfx_activity", "umc_activity", "mm_activity")
    return {"amdsmi_get_gpu_activity": {n: _plain(usage.get(n, "N/A")) for n in names}}


def from_rocm_smi(card: Mapping[str, str], market_name: str | None = None) -> dict[str, Any]:
    """One card of `rocm-smi --json` (VRAM and use options) as the Python API's answers."""
    total = card.get("VRAM Total Memory (B)") or card.get("GPU memory available")
    used = card.get("VRAM Total Used Memory (B)") or card.get("GPU memory use")
    calls: dict[str, Any] = {
        "amdsmi_get_gpu_asic_info": {"market_name": card.get("Card Series") or market_name},
        "amdsmi_get_gpu_memory_total": int(total) if total else None,
        "amdsmi_get_gpu_memory_usage": int(used) if used else None,
    }
    if "GPU use (%)" in card:
        calls["amdsmi_get_gpu_activity"] = {
            "gfx_activity": int(card["GPU use (%)"]),
            "umc_activity": "N/A",
            "mm_activity": "N/A",
        }
    return calls


MIB = 1 << 20
GIB = 1 << 30
_DEFAULT_VIEW_GPU = re.compile(
    r"^\| \S+\s+(?P<name>.+?) \| (?P<umc>\d+) %\s+(?P<temp>\d+) °C\s+\S+\s+"
    r"(?P<power>\d+)/(?P<cap>\d+) W \|\n"
    r"\|\s+(?P<gpu>\d+)\s.*\| (?P<gfx>\d+) %\s+\S+\s+(?P<used>\d+)/(?P<total>\d+) MB \|$",
    re.M,
)
_DEFAULT_VIEW_PROCESS = re.compile(
    r"^\|\s+(?P<gpu>\d+)\s+(?P<pid>\d+)\s+(?P<name>\S+)\s+\S+ \w?B\s+(?P<vram>[\d.]+) GB\s", re.M
)
_DEFAULT_VIEW_DRIVER = re.compile(r"amdgpu version: (\S+)")


def from_amd_smi_default(lines: list[str]) -> list[dict[str, Any]]:
    """`amd-smi` (the default view of AMD SMI 26, ROCm 7.0) as the Python API's answers,
    one dict per GPU: the view prints the library's figures (MB of 2^20 bytes, W, %)."""
    text = "\n".join(lines)
    driver = _DEFAULT_VIEW_DRIVER.search(text)
    version = driver.group(1) if driver else None
    devices = [_default_view_gpu(match, version) for match in _DEFAULT_VIEW_GPU.finditer(text)]
    for process in _DEFAULT_VIEW_PROCESS.finditer(text):
        vram = round(float(process["vram"]) * GIB)  # the CLI rounds to 0.1 GB
        entry = {
            "pid": int(process["pid"]),
            "name": process["name"],
            "memory_usage": {"vram_mem": vram},
        }
        devices[int(process["gpu"])].setdefault("amdsmi_get_gpu_process_list", []).append(entry)
    return devices


def _default_view_gpu(match: re.Match[str], driver: str | None) -> dict[str, Any]:
    return {
        "amdsmi_get_gpu_asic_info": {"market_name": match["name"]},
        "amdsmi_get_gpu_driver_info": {"driver_version": driver},
        "amdsmi_get_gpu_memory_total": int(match["total"]) * MIB,
        "amdsmi_get_gpu_memory_usage": int(match["used"]) * MIB,
        "amdsmi_get_power_info": {
            "socket_power": int(match["power"]),
            "power_limit": int(match["cap"]),
        },
        "amdsmi_get_gpu_activity": {
            "gfx_activity": int(match["gfx"]),
            "umc_activity": int(match["umc"]),
            "mm_activity": "N/A",
        },
        "amdsmi_get_temp_metric": int(match["temp"]),
    }
