"""`hostbench gpus` / `hostbench hw`: table, --json, --watch; stdout is data only."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import hardware
from app.cli import main
from app.cli.commands import gpus
from app.cli.output import format_table
from tests.unit.hardware.conftest import replay_backend

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def hostbench_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOSTBENCH_HOME", str(tmp_path))
    return tmp_path


def _no_gpu_here() -> bool:
    return not hardware.discover(backends=None).gpus


def test_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gpus"]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["DEVICE", "NAME", "MEMORY"]
    devices = [line.split()[0] for line in lines[1:]]
    assert {"cpu", "ram", "disk"} <= set(devices)
    if _no_gpu_here():
        assert len(err.strip().splitlines()) == 1
        assert err.startswith("no GPU found: NVML: ")
        assert "GPU" not in out.split("\n", 1)[1].upper().replace("NO GPU", "")


def test_alias_hw(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["hw"]) == 0
    assert capsys.readouterr().out.startswith("DEVICE")


def test_json(capsys: pytest.CaptureFixture[str], hostbench_home: Path) -> None:
    assert main(["gpus", "--json"]) == 0
    out, _ = capsys.readouterr()
    data = json.loads(out)
    snapshot = hardware.snapshot_from_dict(data)
    assert snapshot.cpu.logical_cores is not None
    assert snapshot.disk is not None
    assert snapshot.disk.path == str(hostbench_home / "data" / "models")
    assert {b["name"] for b in data["backends"]} <= {"NVML", "amdsmi", "sysctl"}


def test_model_dir_option(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["gpus", "--json", "--model-dir", str(tmp_path / "m")]) == 0
    assert json.loads(capsys.readouterr().out)["disk"]["path"] == str(tmp_path / "m")


def test_watch_prints_one_block_per_interval_when_piped(capsys) -> None:
    assert main(["gpus", "--watch", "0.01", "--count", "3"]) == 0
    out, err = capsys.readouterr()
    blocks = out.strip().split("\n\n")
    assert len(blocks) == 3
    assert all(block.startswith("DEVICE") for block in blocks)
    assert "\x1b[" not in out  # no screen control codes into a pipe
    assert len(err.strip().splitlines()) <= 1  # the no-GPU line, once


def test_watch_json_is_json_lines(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gpus", "--watch", "0.01", "--count", "2", "--json"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    first, second = (json.loads(line) for line in lines)
    assert second["timestamp_s"] > first["timestamp_s"]
    assert second["cpu"]["utilization_percent"] is None or second["cpu"]["utilization_percent"] >= 0


def test_bad_watch_interval_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["gpus", "--watch", "0"])
    assert exit_info.value.code == 2


def test_gpu_rows_from_a_recorded_reading() -> None:
    snapshot = hardware.discover(backends=[replay_backend("two_gpus_h100_rtx4060ti")])
    table = format_table(gpus.device_rows(snapshot), gpus.COLUMNS)
    gpu0, gpu1 = table.splitlines()[1:3]
    assert gpu0.startswith("gpu0    NVIDIA H100 80GB HBM3")
    assert "1.0 MiB / 79.6 GiB" in gpu0
    assert "101 W / 700 W" in gpu0
    assert "PCIe 5 x16, CC 9.0, 3350 GB/s peak, driver 565.57.01, CUDA 12.7" in gpu0
    assert gpu1.startswith("gpu1    NVIDIA GeForce RTX 4060 Ti")


def test_unsupported_power_shows_a_dash_before_the_limit() -> None:
    snapshot = hardware.discover(backends=[replay_backend("power_unsupported_gtx1050ti")])
    row = gpus.gpu_row(snapshot.gpus[0])
    assert row["power"] == "- / 75 W"


def test_real_subprocess_json() -> None:
    """As a user runs it: a fresh interpreter, `python -m app gpus --json`."""
    done = subprocess.run(
        [sys.executable, "-m", "app", "gpus", "--json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["cpu"]["physical_cores"] <= data["cpu"]["logical_cores"]
    assert data["memory"]["ram_available_bytes"] <= data["memory"]["ram_total_bytes"]
    if not data["gpus"]:
        assert done.stderr.count("\n") == 1
        assert "no GPU found" in done.stderr
