"""A real `amd-smi` reading with VRAM and power (eight AMD Instinct MI300X under the ROCm
Validation Suite, from AMD's own amdsmi changelog: tests/fixtures/amd/
mi300x_x8_amd_smi_default.json) replayed through hardware/amd.py's AmdsmiLibrary, and what
`hostbench gpus` and the fit make of it. No AMD GPU ran these tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import hardware
from app.cli.commands import gpus
from app.cli.output import format_table
from catalog import load_catalog
from catalog.fit import FitOptions
from catalog.model_shape import shape_from_catalog
from catalog.placement import Devices, Verdict, fit
from hardware.amd import AmdBackend, AmdsmiLibrary
from tests.unit.hardware.amdsmi_replay import MIB, from_amd_smi_default, recorded_amdsmi
from tests.unit.hardware.conftest import FIXTURES, snapshot_file

READING = FIXTURES / "amd" / "mi300x_x8_amd_smi_default.json"


def devices() -> list[dict[str, Any]]:
    return from_amd_smi_default(json.loads(READING.read_text("utf-8"))["amd_smi"])


def mi300x_machine(env: dict[str, str] | None = None) -> hardware.MachineSnapshot:
    module = recorded_amdsmi(devices())
    backend = AmdBackend(api_factory=lambda: AmdsmiLibrary(module), env=env or {})
    return hardware.discover(backends=[backend])


def test_the_reading_replays_through_the_amdsmi_library() -> None:
    snapshot = mi300x_machine()
    assert [g.index for g in snapshot.gpus] == list(range(8))
    gpu = snapshot.gpus[0]
    assert (gpu.vendor, gpu.name, gpu.driver_version) == ("AMD", "AMD Instinct MI300X", "6.12.12")
    assert (gpu.memory_total_bytes, gpu.memory_used_bytes) == (196592 * MIB, 4976 * MIB)
    assert gpu.memory_free_bytes == (196592 - 4976) * MIB
    assert (gpu.power_draw_w, gpu.power_limit_w) == (734, 750)
    assert (gpu.utilization_gpu_percent, gpu.utilization_memory_percent) == (98, 13)
    assert gpu.temperature_c == 60
    assert [(p.pid, p.used_memory_bytes) for p in gpu.processes or ()] == [(2427396, 2 << 30)]
    assert gpu.uuid is None and gpu.sm_clock_mhz is None, "not in the reading"
    assert [g.power_draw_w for g in snapshot.gpus] == [734, 652, 376, 234, 219, 295, 367, 434]


def test_gpus_command_rows() -> None:
    table = format_table(gpus.device_rows(mi300x_machine()), gpus.COLUMNS)
    first, last = table.splitlines()[1], table.splitlines()[8]
    assert first.split()[:4] == ["gpu0", "AMD", "Instinct", "MI300X"]
    for text in ("4.9 GiB / 192.0 GiB", "187.1 GiB", "98%", "60 C", "734 W / 750 W"):
        assert text in first, text
    assert first.endswith("5300 GB/s peak, driver 6.12.12, 1 process")
    assert last.startswith("gpu7") and "434 W / 750 W" in last


def test_a_70b_model_is_split_over_the_eight_gpus() -> None:
    """The fit counts each GPU's VRAM total less what the reading says is used (rvs holds
    4976 MB on each), less 1 GiB; llama.cpp spreads the layers over all eight."""
    d = Devices.from_snapshot(mi300x_machine())
    assert [g.free_bytes for g in d.gpus] == [(196592 - 4976) * MIB] * 8
    assert all(g.runtime_bytes == 0 for g in d.gpus), "the ROCm runtime's VRAM is unmeasured"
    shape = shape_from_catalog(load_catalog().get("llama-3.3-70b-instruct"), "Q4_K_M")
    report = fit(shape, FitOptions(n_ctx=8192), d)
    assert report.verdict is Verdict.FULL_GPU
    assert [use.layers for use in report.placement.gpus] == [11] + [10] * 7
    assert report.reasons[1].startswith("split by layer, in proportion to free memory: gpu0 11")


def test_rocm_visibility_leaves_one_gpu_for_the_fit() -> None:
    snapshot = mi300x_machine({"ROCR_VISIBLE_DEVICES": "3"})
    (gpu,) = snapshot.gpus
    assert (gpu.index, gpu.power_draw_w) == (3, 234)
    assert snapshot.backends[0].reason == "ROCR_VISIBLE_DEVICES=3: 1 of 8 GPU(s) visible"
    shape = shape_from_catalog(load_catalog().get("llama-3.3-70b-instruct"), "Q4_K_M")
    report = fit(shape, FitOptions(n_ctx=8192), Devices.from_snapshot(snapshot))
    assert report.verdict is Verdict.FULL_GPU
    assert report.reasons[1].startswith("gpu3 (AMD Instinct MI300X): needs 43.33 GiB of 187.12")


def test_fit_command_on_the_recorded_machine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`hostbench gpus --json` on that machine, then `hostbench fit --machine` elsewhere."""
    from app.cli import main

    monkeypatch.setenv("HOSTBENCH_HOME", str(tmp_path))
    machine_file = snapshot_file(tmp_path, mi300x_machine(), "mi300x.json")
    args = ["llama-3.3-70b-instruct:Q4_K_M", "--ctx", "8192", "--no-remote", "--json"]
    assert main(["fit", *args, "--machine", str(machine_file)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["verdict"] == "full GPU"
    assert [d["layers"] for d in data["devices"]] == [11] + [10] * 7 + [0]
    assert {d["free_bytes"] for d in data["devices"][:8]} == {(196592 - 4976) * MIB}
