"""`hostbench launch --dry-run --machine FILE`: the launch plan for a machine described by a
snapshot, read by the loader `hostbench fit --machine` uses. The machines are replayed real
readings: a Mac (tests/fixtures/apple) and eight AMD MI300X (tests/fixtures/amd)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from app.cli import main
from errors import ExitCode
from tests.unit.hardware.conftest import snapshot_file
from tests.unit.hardware.test_amd_smi_default import mi300x_machine
from tests.unit.hardware.test_apple_metal import mac

GIB = 1 << 30


@pytest.fixture(autouse=True)
def hostbench_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOSTBENCH_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def dry_run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    code = main(["launch", *args, "--dry-run", "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_a_mac_offloads_everything_within_its_metal_budget(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    machine = snapshot_file(tmp_path, mac("m2_pro_32gb_system_profiler", 28))
    code, plan = dry_run(capsys, "qwen3-8b:Q4_K_M", "--machine", str(machine))
    assert code == 0 and plan["refusal"] is None
    assert plan["profile"][-1] == "gpu-24gb"
    assert plan["options"]["n_gpu_layers"] == 37
    assert plan["reasons"]["n_gpu_layers"] == "37 of 37: all layers fit (13.9 of 21.3 GiB free)"
    assert (
        "gpu0 (Apple M2 Pro): needs 13.91 GiB of 21.33 GiB free (1024 MiB kept free)"
        in (plan["fit"]["reasons"])
    )


def test_a_raised_wired_limit_lets_a_32b_model_onto_the_gpu(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same 32 GB of RAM: two-thirds (21.3 GiB) for Metal by default, 26000 MiB after
    `sudo sysctl iogpu.wired_limit_mb=26000` (the M1 Max reading)."""
    args = ["qwen2.5-32b-instruct:Q5_K_M", "--ctx-size", "4096", "--parallel", "1"]
    default = snapshot_file(tmp_path, mac("m2_pro_32gb_system_profiler", 30))
    code, plan = dry_run(capsys, *args, "--machine", str(default))
    assert code == 0 and plan["fit"]["verdict"] == "partial offload"
    assert plan["reasons"]["n_gpu_layers"] == "58 of 65: 21.3 GiB free, 0.32 GiB per layer"
    raised = snapshot_file(tmp_path, mac("m1_max_32gb_wired_limit", 30))
    code, plan = dry_run(capsys, *args, "--machine", str(raised))
    assert code == 0 and plan["fit"]["verdict"] == "full GPU"
    assert plan["reasons"]["n_gpu_layers"].startswith("65 of 65: all layers fit (")
    assert plan["reasons"]["n_gpu_layers"].endswith(" of 25.4 GiB free)")


def test_eight_mi300x_share_a_70b_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    machine = snapshot_file(tmp_path, mi300x_machine())
    code, plan = dry_run(capsys, "llama-3.3-70b-instruct:Q4_K_M", "--machine", str(machine))
    assert code == 0 and plan["profile"][-1] == "multi-gpu"
    reason = plan["reasons"]["n_gpu_layers"]
    assert reason.startswith("81 of 81: all layers fit (") and "[gpu0 11 layers " in reason
    assert [d["layers"] for d in plan["fit"]["devices"]] == [11] + [10] * 7 + [0]


def test_pinning_one_mi300x(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    machine = snapshot_file(tmp_path, mi300x_machine())
    args = ["llama-3.3-70b-instruct:Q4_K_M", "--gpus", "3", "--machine", str(machine)]
    code, plan = dry_run(capsys, *args)
    assert code == 0 and [d["device"] for d in plan["fit"]["devices"]] == [
        "gpu3 (AMD Instinct MI300X)",
        "RAM",
    ]
    assert plan["reasons"]["n_gpu_layers"].startswith("81 of 81: all layers fit (")


def test_the_text_says_whose_machine(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    machine = snapshot_file(tmp_path, mac("m2_pro_32gb_system_profiler", 28))
    assert main(["launch", "qwen3-8b:Q4_K_M", "--dry-run", "--machine", str(machine)]) == 0
    out = capsys.readouterr().out
    assert "profile: gpu-24gb (matches that machine)" in out
    assert "  gpu0 (Apple M2 Pro): needs 13.91 GiB of 21.33 GiB free (1024 MiB kept free)" in out


def test_a_70b_model_is_refused_on_the_32gb_mac(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """What the GPU holds counts against the RAM too: 42 GiB of weights cannot load."""
    machine = snapshot_file(tmp_path, mac("m2_pro_32gb_system_profiler", 28))
    code = main(["launch", "llama-3.3-70b-instruct:Q4_K_M", "--dry-run", "--machine", str(machine)])
    assert code == ExitCode.DOES_NOT_FIT
    assert "would not launch: llama-3.3-70b-instruct:Q4_K_M does not fit" in capsys.readouterr().err


def test_machine_without_dry_run_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    machine = snapshot_file(tmp_path, mi300x_machine())
    assert main(["launch", "smollm2-135m-instruct", "--machine", str(machine)]) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert "--machine only plans: add --dry-run" in err


def test_a_missing_machine_file_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.json"
    code = main(["launch", "smollm2-135m-instruct", "--dry-run", "--machine", str(missing)])
    assert code == ExitCode.NOT_FOUND
    assert f"no such file: {missing}" in capsys.readouterr().err
