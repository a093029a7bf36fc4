"""The CPU, RAM and disk path, read for real on the machine running the tests."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import psutil
import pytest

import hardware
from hardware.cpu import CPUINFO, rapl_packages, read_cpu_info, read_rapl_uj, simd_flags
from hardware.memory import read_disk, read_memory


def test_cores_are_consistent() -> None:
    info = read_cpu_info()
    assert info.logical_cores == os.cpu_count()
    assert info.physical_cores is not None and info.logical_cores is not None
    assert 1 <= info.physical_cores <= info.logical_cores
    assert hardware.physical_core_count() == info.physical_cores


@pytest.mark.skipif(not CPUINFO.exists(), reason="needs /proc/cpuinfo (Linux)")
def test_flags_come_from_the_real_cpuinfo() -> None:
    lines = CPUINFO.read_text().splitlines()
    flag_line = next(line for line in lines if line.split(":")[0].strip() in {"flags", "Features"})
    real_flags = set(flag_line.split(":", 1)[1].split())
    snapshot = read_cpu_info().snapshot()

    assert set(snapshot.simd_flags) <= real_flags
    assert snapshot.avx2 == ("avx2" in real_flags)
    assert snapshot.avx512 == any(f.startswith("avx512") for f in real_flags)
    assert snapshot.amx == any(f.startswith("amx") for f in real_flags)
    assert snapshot.neon == bool(real_flags & {"asimd", "neon"})
    model = next((line for line in lines if line.startswith("model name")), None)
    if model:
        assert snapshot.model_name == model.split(":", 1)[1].strip()


def test_simd_flags_keep_what_llama_cpp_uses() -> None:
    raw = ["fpu", "sse2", "avx2", "avx512f", "avx512_vnni", "amx_tile", "asimd", "pni", "fma"]
    assert simd_flags(raw) == ("amx_tile", "asimd", "avx2", "avx512_vnni", "avx512f", "fma")


def test_unreadable_cpuinfo_gives_unknown_flags_not_false(tmp_path: Path) -> None:
    snapshot = read_cpu_info(tmp_path / "missing").snapshot()
    if sys.platform != "darwin":
        assert snapshot.avx2 is None
        assert snapshot.neon is None
        assert snapshot.simd_flags == ()


def test_ram_and_swap_invariants() -> None:
    memory = read_memory()
    assert memory.ram_total_bytes == psutil.virtual_memory().total
    assert 0 < memory.ram_available_bytes <= memory.ram_total_bytes
    assert 0 <= memory.swap_used_bytes <= memory.swap_total_bytes or memory.swap_total_bytes == 0


def test_disk_of_an_existing_directory(tmp_path: Path) -> None:
    disk = read_disk(tmp_path)
    assert disk is not None
    assert disk.path == str(tmp_path)
    assert 0 < disk.free_bytes <= disk.total_bytes
    assert disk.total_bytes == psutil.disk_usage(str(tmp_path)).total


def test_disk_of_a_model_dir_not_created_yet_measures_its_filesystem(tmp_path: Path) -> None:
    future = tmp_path / "not" / "yet" / "models"
    disk = read_disk(future)
    assert disk is not None
    assert disk.path == str(future)
    assert disk.total_bytes == psutil.disk_usage(str(tmp_path)).total
    assert not future.exists()


def test_no_model_dir_means_no_disk_row() -> None:
    assert read_disk(None) is None


def test_rapl_energy_is_a_number_or_none() -> None:
    """RAPL is root-only since Linux 5.10 and absent in most VMs: None is the honest answer."""
    zones = rapl_packages()
    energy = read_rapl_uj(zones)
    if zones:
        assert energy is not None
        assert energy >= 0
    else:
        assert energy is None


def test_rapl_reads_packages_and_skips_subzones(tmp_path: Path) -> None:
    """The powercap tree layout, with the counter values the kernel writes (uJ)."""
    for zone, value in {"intel-rapl:0": 1000, "intel-rapl:1": 2500, "intel-rapl:0:0": 7}.items():
        (tmp_path / zone).mkdir()
        (tmp_path / zone / "energy_uj").write_text(f"{value}\n")
        (tmp_path / zone / "max_energy_range_uj").write_text("262143328850\n")
    zones = rapl_packages(tmp_path)
    assert [z.energy_file.parent.name for z in zones] == ["intel-rapl:0", "intel-rapl:1"]
    assert read_rapl_uj(zones) == 3500


def test_discover_without_gpu_backends_is_a_full_cpu_snapshot(tmp_path: Path) -> None:
    snapshot = hardware.discover(tmp_path, backends=[])
    assert snapshot.gpus == ()
    assert snapshot.gpu_absence_reason == "no GPU backend for this platform"
    assert snapshot.cpu.logical_cores == os.cpu_count()
    assert snapshot.disk is not None
    assert snapshot.cpu.utilization_percent is None  # a rate needs two readings
