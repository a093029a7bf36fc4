"""CPU facts: model, cores, the SIMD flags llama.cpp's kernels use, and RAPL package energy.

Everything here reads the OS directly (/proc, /sys, sysctl) and gives None where the OS
does not say, so a container, a VM or a Mac gets a partial answer instead of an error.
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import psutil

from hardware.snapshots import CpuSnapshot

CPUINFO = Path("/proc/cpuinfo")
POWERCAP = Path("/sys/class/powercap")
# Flags whose presence changes which llama.cpp kernels run (x86 and Arm spellings).
_SIMD_EXACT = frozenset(
    {"sse3", "ssse3", "sse4_1", "sse4_2", "avx", "avx2", "fma", "f16c", "avx_vnni",
     "asimd", "asimdhp", "asimddp", "asimdfhm", "i8mm", "sve", "sve2", "bf16", "neon"}
)  # fmt: skip
_SIMD_PREFIXES = ("avx512", "amx")
_RAPL_PACKAGE = re.compile(r"^intel-rapl:\d+$")


def physical_core_count() -> int:
    """Physical cores (llama.cpp runs best with one thread per physical core)."""
    return psutil.cpu_count(logical=False) or os.cpu_count() or 1


@dataclass(frozen=True)
class CpuInfo:
    """The parts of a CpuSnapshot that do not change while the machine runs."""

    model_name: str | None
    architecture: str
    physical_cores: int | None
    logical_cores: int | None
    simd_flags: tuple[str, ...]
    flags_known: bool
    """False where the OS did not list CPU flags: then the SIMD answers are None, not False."""

    def snapshot(
        self,
        utilization_percent: float | None = None,
        package_energy_uj: int | None = None,
        package_power_w: float | None = None,
    ) -> CpuSnapshot:
        simd = _simd_summary(set(self.simd_flags)) if self.flags_known else {}
        return CpuSnapshot(
            model_name=self.model_name,
            architecture=self.architecture,
            physical_cores=self.physical_cores,
            logical_cores=self.logical_cores,
            simd_flags=self.simd_flags,
            avx2=simd.get("avx2"),
            avx512=simd.get("avx512"),
            amx=simd.get("amx"),
            neon=simd.get("neon"),
            utilization_percent=utilization_percent,
            package_energy_uj=package_energy_uj,
            package_power_w=package_power_w,
        )


def _simd_summary(flags: set[str]) -> dict[str, bool]:
    """The four questions llama.cpp's build asks of a CPU."""
    return {
        "avx2": "avx2" in flags,
        "avx512": any(f.startswith("avx512") for f in flags),
        "amx": any(f.startswith("amx") for f in flags),
        "neon": bool(flags & {"asimd", "neon"}),
    }


def read_cpu_info(cpuinfo: Path = CPUINFO) -> CpuInfo:
    """Model name and SIMD flags from /proc/cpuinfo (Linux) or sysctl (macOS)."""
    fields = _parse_cpuinfo(cpuinfo) if cpuinfo.exists() else {}
    model = (
        fields.get("model name") or fields.get("Model") or read_sysctl("machdep.cpu.brand_string")
    )
    raw_flags = (fields.get("flags") or fields.get("Features") or "").split()
    if sys.platform == "darwin" and not raw_flags:
        raw_flags = _darwin_flags()
    return CpuInfo(
        model_name=model or platform.processor() or None,
        architecture=platform.machine() or "unknown",
        physical_cores=psutil.cpu_count(logical=False),
        logical_cores=psutil.cpu_count(logical=True),
        simd_flags=simd_flags(raw_flags),
        flags_known=bool(raw_flags),
    )


def simd_flags(raw_flags: Iterable[str]) -> tuple[str, ...]:
    """The subset of CPU flags that matters to llama.cpp, sorted."""
    return tuple(sorted({f for f in raw_flags if f in _SIMD_EXACT or f.startswith(_SIMD_PREFIXES)}))


def _parse_cpuinfo(path: Path) -> dict[str, str]:
    """The first processor block's fields: every core of a socket reports the same flags."""
    fields: dict[str, str] = {}
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return fields
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() not in fields:
            fields[key.strip()] = value.strip()
    return fields


def _darwin_flags() -> list[str]:
    """Apple silicon always has NEON; Intel Macs list features in sysctl."""
    if platform.machine() == "arm64":
        return ["neon"]
    leaf7 = read_sysctl("machdep.cpu.leaf7_features") or ""
    basic = read_sysctl("machdep.cpu.features") or ""
    return [f.lower().replace(".", "_") for f in f"{basic} {leaf7}".split()]


def read_sysctl(name: str) -> str | None:
    """`sysctl -n NAME`, or None off macOS or on any failure."""
    if sys.platform != "darwin":
        return None
    try:
        done = subprocess.run(
            ["sysctl", "-n", name], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return (done.stdout.strip() or None) if done.returncode == 0 else None


@dataclass(frozen=True)
class RaplZone:
    energy_file: Path
    max_energy_uj: int | None


def rapl_packages(root: Path = POWERCAP) -> tuple[RaplZone, ...]:
    """Readable RAPL package zones (one per socket); empty where RAPL is absent or root-only.

    Since Linux 5.10 `energy_uj` is readable by root only (CVE-2020-8694), so on most
    machines an unprivileged user gets nothing here and the energy is None.
    """
    if not root.is_dir():
        return ()
    zones = []
    for zone in sorted(root.iterdir()):
        energy = zone / "energy_uj"
        if _RAPL_PACKAGE.match(zone.name) and _readable_int(energy) is not None:
            zones.append(RaplZone(energy, _readable_int(zone / "max_energy_range_uj")))
    return tuple(zones)


def read_rapl_uj(zones: Iterable[RaplZone]) -> int | None:
    """Package energy summed over sockets, or None if any zone stopped being readable."""
    values = [_readable_int(z.energy_file) for z in zones]
    if not values or any(v is None for v in values):
        return None
    return sum(v for v in values if v is not None)


def _readable_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None
