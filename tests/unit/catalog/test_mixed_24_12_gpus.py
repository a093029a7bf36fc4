"""A mixed 24 GB + 12 GB machine (RTX 3090 + RTX 3060, tests/fixtures/nvml/
two_gpus_rtx3090_rtx3060.json: two real readings put side by side, sources in the file)
through the layer split llama.cpp uses (catalog.fit_split), the launch reason and
`hostbench fit --machine`. The 2 x 24 GB and 24 + 16 GB cases are in test_multi_gpu.py."""

from __future__ import annotations

from pathlib import Path

import pytest

import hardware
from app.cli.commands import gpus
from catalog import load_catalog
from catalog.fit import FitOptions
from catalog.model_shape import ModelShape, shape_from_catalog
from catalog.placement import Devices, Verdict, fit, place
from engines.llamacpp.adapter import LlamaCppOptions
from profiles.library import ProfileLibrary
from profiles.resolver import resolve_options
from tests.unit.catalog.conftest import machine
from tests.unit.hardware.conftest import snapshot_file

MIXED_24_12 = "two_gpus_rtx3090_rtx3060"
GIB = 1 << 30


def snapshot() -> hardware.MachineSnapshot:
    return machine(MIXED_24_12, ram_gib=60)


def shape(model: str) -> ModelShape:
    return shape_from_catalog(load_catalog().get(model), "Q4_K_M")


def test_the_reading_shows_both_cards() -> None:
    rtx3090, rtx3060 = (gpus.gpu_row(g) for g in snapshot().gpus)
    assert (rtx3090["name"], rtx3090["memory"]) == ("NVIDIA GeForce RTX 3090", "2.0 MiB / 24.0 GiB")
    assert (rtx3060["name"], rtx3060["memory"]) == ("NVIDIA GeForce RTX 3060", "1.0 MiB / 12.0 GiB")
    assert (rtx3060["power"], rtx3060["temp"], rtx3060["util"]) == ("14 W / 170 W", "29 C", None)


def test_a_32b_model_is_split_about_two_to_one() -> None:
    """Shares are free memory less the CUDA runtime's 540 MiB: 23.06 : 11.47 GiB, so the
    3090 takes 44 of the 65 layers (llama.cpp's rule: k/65 against 0.668)."""
    d = Devices.from_snapshot(snapshot())
    free = [g.free_bytes - g.runtime_bytes for g in d.gpus]
    report = fit(shape("qwen2.5-32b-instruct"), FitOptions(n_ctx=8192), d)
    assert report.verdict is Verdict.FULL_GPU
    assert [use.layers for use in report.placement.gpus] == [44, 21]
    assert abs(44 / 65 - free[0] / sum(free)) < 1 / 65
    assert report.reasons[1].startswith(
        "split by layer, in proportion to free memory: gpu0 44 layers 14.9 GiB, gpu1 21 layers"
    )


def test_the_12gb_card_limits_a_70b_offload() -> None:
    """The 3060 takes its share of every layer offloaded, so it fills first: 54 of 81 layers
    while the 3090 still has room, and one layer more would not fit on the 3060."""
    options, d = FitOptions(n_ctx=8192), Devices.from_snapshot(snapshot())
    report = fit(shape("llama-3.3-70b-instruct"), options, d)
    assert report.verdict is Verdict.PARTIAL
    assert [use.layers for use in report.placement.gpus] == [37, 17]
    one_more = place(shape("llama-3.3-70b-instruct"), options, d, report.n_gpu_layers + 1)
    assert [use.fits for use in one_more.gpus] == [True, False]


@pytest.mark.parametrize(
    ("options", "verdict", "layers"),
    [
        (FitOptions(n_ctx=8192, split_mode="none", main_gpu=0), Verdict.FULL_GPU, [65]),
        (FitOptions(n_ctx=8192, split_mode="none", main_gpu=1), Verdict.PARTIAL, [31]),
        (FitOptions(n_ctx=8192, tensor_split=(1.0, 1.0)), Verdict.PARTIAL, [32, 31]),
    ],
)
def test_explicit_control_of_the_split(
    options: FitOptions, verdict: Verdict, layers: list[int]
) -> None:
    """The 32B model fits the 3090 alone, not the 3060 alone; an even split wastes the
    3090's extra 12 GB (users ask for this control: Ollama #7047)."""
    report = fit(shape("qwen2.5-32b-instruct"), options, Devices.from_snapshot(snapshot()))
    assert report.verdict is verdict
    assert [use.layers for use in report.placement.gpus] == layers


def test_launch_reason_shows_the_split_and_pinning_the_3060_narrows_it() -> None:
    s = snapshot()
    profile = ProfileLibrary.load().resolve(None, s)
    assert profile.name == "multi-gpu"
    defaults, given = LlamaCppOptions().model_dump(), {"parallel": 1, "ctx_size": 8192}
    keys = LlamaCppOptions.estimate_keys
    both = resolve_options(shape("qwen2.5-32b-instruct"), s, profile, given, defaults, keys=keys)
    assert str(both.reasons["n_gpu_layers"]) == (
        "65 of 65: all layers fit (22.2 of 35.6 GiB free) "
        "[gpu0 44 layers 14.6 GiB, gpu1 21 layers 7.6 GiB]"
    )
    pinned = resolve_options(
        shape("qwen2.5-32b-instruct"), s, profile, {**given, "gpus": "1"}, defaults, keys=keys
    )
    assert pinned.options["n_gpu_layers"] == 32
    assert str(pinned.reasons["n_gpu_layers"]).startswith("32 of 65: 12.0 GiB free")


def test_fit_command_on_the_mixed_machine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from app.cli import main

    monkeypatch.setenv("HOSTBENCH_HOME", str(tmp_path))
    machine_file = snapshot_file(tmp_path, snapshot(), "3090-3060.json")
    args = ["qwen2.5-32b-instruct:Q4_K_M", "--ctx", "8192", "--no-remote"]
    assert main(["fit", *args, "--machine", str(machine_file)]) == 0
    out = capsys.readouterr().out
    assert "qwen2.5-32b-instruct:Q4_K_M: full GPU" in out
    assert "  split by layer, in proportion to free memory: gpu0 44 layers " in out
    assert main(["fit", *args, "--machine", str(machine_file), "--tensor-split", "1,1"]) == 0
    assert "split by layer, tensor_split 1,1: gpu0 32 layers" in capsys.readouterr().out
