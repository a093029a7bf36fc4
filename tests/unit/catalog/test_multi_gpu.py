"""Several GPUs with llama.cpp: the layer split the fit models (llama.cpp's own rule, see
catalog.fit_split) against replayed readings of a real 2 x RTX 3090 machine and of a mixed
RTX 3090 + RTX 4060 Ti pair (tests/fixtures/nvml, sources in each file)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

import hardware
from catalog import load_catalog
from catalog.fit import FitOptions
from catalog.fit_split import layer_owners, split_points
from catalog.model_shape import ModelShape, shape_from_catalog
from catalog.placement import Devices, Verdict, fit, place, split_text
from engines.llamacpp.adapter import LlamaCppOptions
from profiles.resolver import EstimateKeys, fit_options, pinned_gpus
from tests.unit.catalog.conftest import machine
from tests.unit.hardware.conftest import snapshot_file

TWO_3090 = "two_gpus_rtx3090_recorded"
MIXED = "two_gpus_rtx3090_rtx4060ti"

LLAMA_KEYS = LlamaCppOptions.estimate_keys
assert isinstance(LLAMA_KEYS, EstimateKeys)


def devices(fixture: str) -> Devices:
    return Devices.from_snapshot(machine(fixture, ram_gib=60))


def qwen32b() -> ModelShape:
    return shape_from_catalog(load_catalog().get("qwen2.5-32b-instruct"), "Q4_K_M")


def test_llama_cpp_rule_splits_equal_gpus_in_half() -> None:
    """k/act against the split points, upper_bound: 37 layers on two equal weights give the
    first GPU layers 0..18 (k/37 < 0.5) and the second the other 18."""
    owners = layer_owners(37, [24154.0, 24154.0])
    assert (owners.count(0), owners.count(1)) == (19, 18)
    assert owners == sorted(owners), "each GPU takes one run of consecutive layers"
    assert split_points([3.0, 1.0]) == [0.75, 1.0]
    assert layer_owners(8, [3.0, 1.0]).count(0) == 6
    assert layer_owners(8, [0.0, 1.0]) == [1] * 8, "a zero share takes no layer"


def test_two_24gb_gpus_share_a_model_that_one_would_hold() -> None:
    """llama.cpp spreads the layers by free memory even when one GPU would do (it does not
    fill the first GPU and stop), so both GPUs carry about half and a compute buffer each."""
    report = fit(qwen32b(), FitOptions(n_ctx=8192), devices(TWO_3090))
    assert report.verdict is Verdict.FULL_GPU
    gpu0, gpu1 = report.placement.gpus
    assert (gpu0.layers, gpu1.layers) == (33, 32)
    assert abs(gpu0.need_bytes - gpu1.need_bytes) < 0.05 * gpu0.need_bytes


def test_a_mixed_pair_splits_in_proportion_to_free_memory() -> None:
    d = devices(MIXED)
    free = [g.free_bytes - g.runtime_bytes for g in d.gpus]
    report = fit(qwen32b(), FitOptions(n_ctx=8192), d)
    gpu0, gpu1 = report.placement.gpus
    assert report.verdict is Verdict.FULL_GPU
    assert gpu0.layers + gpu1.layers == 65
    assert abs(gpu0.layers / 65 - free[0] / sum(free)) < 1 / 65
    assert gpu0.layers > gpu1.layers


def test_when_the_smaller_gpu_is_full_fewer_layers_are_offloaded() -> None:
    """The proportional split hands the 16 GB card its share of every offload, so a 70B model
    that would fit 24 + 16 GB filled in order is only partly offloaded, as llama.cpp does."""
    shape = shape_from_catalog(load_catalog().get("llama-3.3-70b-instruct"), "Q4_K_M")
    report = fit(shape, FitOptions(n_ctx=8192), devices(MIXED))
    assert report.verdict is Verdict.PARTIAL
    one_more = place(shape, FitOptions(n_ctx=8192), devices(MIXED), report.n_gpu_layers + 1)
    assert not all(use.fits for use in one_more.gpus)


def test_an_explicit_tensor_split_is_honoured() -> None:
    options = FitOptions(n_ctx=8192, tensor_split=(3.0, 1.0))
    report = fit(qwen32b(), options, devices(TWO_3090))
    gpu0, gpu1 = report.placement.gpus
    assert (gpu0.layers, gpu1.layers) == (49, 16)
    assert "tensor_split 3,1" in report.reasons[1]


def test_split_mode_none_uses_the_main_gpu_only() -> None:
    options = FitOptions(n_ctx=8192, split_mode="none", main_gpu=1)
    report = fit(qwen32b(), options, devices(TWO_3090))
    (only,) = report.placement.gpus
    assert only.device.short_name == "gpu1" and only.layers == 65
    bad = fit(qwen32b(), dataclasses.replace(options, main_gpu=2), devices(TWO_3090))
    assert bad.verdict is Verdict.NO_FIT
    assert bad.reasons[-1] == "main_gpu 2 but only 2 GPU(s) are visible"


def test_row_mode_keeps_the_kv_cache_on_the_main_gpu() -> None:
    options = FitOptions(n_ctx=32768, split_mode="row", flash_attn=True)
    gpu0, gpu1 = fit(qwen32b(), options, devices(TWO_3090)).placement.gpus
    assert gpu0.need_bytes - gpu1.need_bytes > 6 * 2**30  # 8 GiB of f16 KV on gpu0


def test_the_split_is_in_the_reasons() -> None:
    report = fit(qwen32b(), FitOptions(n_ctx=8192), devices(MIXED))
    line = report.reasons[1]
    assert line.startswith("split by layer, in proportion to free memory: gpu0 40 layers ")
    assert line.endswith(split_text(report.placement))
    assert ", gpu1 25 layers " in line


def test_pinned_gpus_are_the_only_ones_fitted() -> None:
    assert pinned_gpus({"gpus": "1"}) == (1,) and pinned_gpus({}) is None
    snapshot = machine(TWO_3090, ram_gib=60)
    d = Devices.from_snapshot(snapshot, pinned_gpus({"gpus": "1"}))
    assert [g.short_name for g in d.gpus] == ["gpu1"]
    assert "gpu0 (NVIDIA GeForce RTX 3090) is not among the pinned GPUs" in d.notes


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({}, ("layer", None, 0)),
        ({"split_mode": "row", "tensor_split": "3,1", "main_gpu": 1}, ("row", (3.0, 1.0), 1)),
    ],
)
def test_launch_options_reach_the_fit(values: dict[str, object], expected: tuple) -> None:
    options = fit_options(values, LLAMA_KEYS)
    assert (options.split_mode, options.tensor_split, options.main_gpu) == expected


def test_fit_command_shows_the_split(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`hostbench fit --machine` on the recorded 2 x RTX 3090 machine."""
    from app.cli import main

    monkeypatch.setenv("HOSTBENCH_HOME", str(tmp_path))
    machine_file = tmp_path / "two-3090.json"
    snapshot = hardware.snapshot_to_dict(machine(TWO_3090, ram_gib=60))
    machine_file.write_text(json.dumps(snapshot))
    args = ["qwen2.5-32b-instruct:Q4_K_M", "--ctx", "8192", "--no-remote"]
    assert main(["fit", *args, "--machine", str(machine_file)]) == 0
    out = capsys.readouterr().out
    assert "  split by layer, in proportion to free memory: gpu0 33 layers " in out
    assert main(["fit", *args, "--machine", str(machine_file), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [d["layers"] for d in data["devices"]] == [33, 32, 0]


def test_launch_reason_shows_the_split_and_pinning_narrows_it() -> None:
    from profiles.library import ProfileLibrary
    from profiles.resolver import resolve_options

    snapshot = machine(TWO_3090, ram_gib=60)
    profile = ProfileLibrary.load().resolve(None, snapshot)
    assert profile.name == "multi-gpu"
    defaults = LlamaCppOptions().model_dump()
    one_slot = {"parallel": 1, "ctx_size": 8192}
    both = resolve_options(
        qwen32b(), snapshot, profile, one_slot, defaults, keys=LlamaCppOptions.estimate_keys
    )
    reason = str(both.reasons["n_gpu_layers"])
    assert reason.startswith("65 of 65: all layers fit") and "[gpu0 33 layers " in reason
    assert ", gpu1 32 layers " in reason
    pinned = resolve_options(
        qwen32b(),
        snapshot,
        profile,
        {**one_slot, "gpus": "1"},
        defaults,
        keys=LlamaCppOptions.estimate_keys,
    )
    assert [use.device.short_name for use in pinned.report.placement.gpus] == ["gpu1"]


def test_a_main_gpu_past_the_visible_ones_is_refused_with_the_reason() -> None:
    from profiles.library import ProfileLibrary
    from profiles.resolver import resolve_options

    snapshot = machine(TWO_3090, ram_gib=60)
    profile = ProfileLibrary.load().resolve(None, snapshot)
    explicit = {"split_mode": "none", "main_gpu": 1, "gpus": "1"}
    got = resolve_options(
        qwen32b(),
        snapshot,
        profile,
        explicit,
        LlamaCppOptions().model_dump(),
        keys=LlamaCppOptions.estimate_keys,
    )
    assert got.refusal == (
        "qwen2.5-32b-instruct:Q4_K_M cannot be placed: main_gpu 1 but only 1 GPU(s) are visible"
    )


def test_fit_command_takes_the_split_options(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from app.cli import main

    monkeypatch.setenv("HOSTBENCH_HOME", str(tmp_path))
    machine_file = snapshot_file(tmp_path, machine(TWO_3090, ram_gib=60), "two-3090.json")
    base = ["fit", "qwen2.5-32b-instruct:Q4_K_M", "--no-remote", "--machine", str(machine_file)]
    assert main([*base, "--tensor-split", "3,1"]) == 0
    assert "split by layer, tensor_split 3,1: gpu0 49 layers " in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_info:
        main([*base, "--tensor-split", "3,x"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "hostbench fit: error: argument --tensor-split: not a list of numbers: '3,x'"
    )


def test_a_pinned_order_is_the_order_llama_cpp_numbers_the_gpus() -> None:
    """CUDA_VISIBLE_DEVICES=1,0 makes GPU 1 the engine's first: the shares follow."""
    assert pinned_gpus({"gpus": "1,0"}) == (1, 0)
    d = Devices.from_snapshot(machine(TWO_3090, ram_gib=60), pinned_gpus({"gpus": "1,0"}))
    assert [g.short_name for g in d.gpus] == ["gpu1", "gpu0"]
    report = fit(qwen32b(), FitOptions(n_ctx=8192, tensor_split=(3.0, 1.0)), d)
    first, second = report.placement.gpus
    assert (first.device.short_name, first.layers, second.layers) == ("gpu1", 49, 16)


def test_a_malformed_share_list_is_left_to_the_engines_option_check() -> None:
    """The resolver runs before the engine validates options: a bad value must not raise
    there (it did, as a traceback), the option check then names it in one line."""

    assert fit_options({"tensor_split": "3x"}, LLAMA_KEYS).tensor_split is None
    with pytest.raises(ValueError, match="tensor_split\n  String should match pattern"):
        LlamaCppOptions.model_validate({"tensor_split": "3x"})


def test_a_profile_may_list_the_shares() -> None:

    assert LlamaCppOptions.model_validate({"tensor_split": [3, 1.5]}).tensor_split == "3,1.5"
    assert fit_options({"tensor_split": [3, 1.5]}, LLAMA_KEYS).tensor_split == (3.0, 1.5)
