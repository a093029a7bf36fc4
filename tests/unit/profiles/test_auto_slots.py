"""`parallel = "auto"`: the launch plan gives llama.cpp a slot for each of up to eight
requests at once, fewer where memory is short, and never at the cost of GPU layers or of the
context asked for. Machines are this one's real reading with its RAM set, or recorded real
NVML readings (tests/fixtures/nvml)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from app.cli import main
from catalog import load_catalog
from catalog.model_shape import ModelShape, shape_from_catalog
from catalog.placement import Devices, fit
from engines.llamacpp.adapter import LlamaCppOptions
from errors import ExitCode
from hardware import MachineSnapshot
from profiles.library import ProfileLibrary
from profiles.resolver import SLOTS_FOR_LOAD, Origin, Resolution, resolve_options
from tests.gguf_files import TinyModel, write_tiny_gguf
from tests.unit.catalog.conftest import machine, smollm2

DEFAULTS = LlamaCppOptions().model_dump()
KEYS = LlamaCppOptions.estimate_keys
RTX_3090 = "two_gpus_rtx3090_recorded"


def plan(
    shape: ModelShape | None,
    snapshot: MachineSnapshot,
    given: dict[str, Any] | None = None,
    profile: str = "cpu",
) -> Resolution:
    resolved = ProfileLibrary.load().resolve(profile, snapshot)
    return resolve_options(shape, snapshot, resolved, given or {}, DEFAULTS, keys=KEYS)


def one_gpu(snapshot: MachineSnapshot) -> MachineSnapshot:
    return dataclasses.replace(snapshot, gpus=snapshot.gpus[:1])


def slots_fit(got: Resolution, shape: ModelShape, snapshot: MachineSnapshot, slots: int) -> Any:
    """The plan's own estimate (context, KV cache types) at another slot count."""
    assert got.report is not None
    options = dataclasses.replace(got.report.options, n_parallel=slots)
    return fit(shape, options, Devices.from_snapshot(snapshot))


def test_auto_is_the_default_and_gives_eight_slots_where_they_fit() -> None:
    assert LlamaCppOptions().parallel == "auto"
    got = plan(smollm2(), machine(ram_gib=16))
    assert got.options["parallel"] == SLOTS_FOR_LOAD == 8
    assert got.reasons["parallel"].origin is Origin.ESTIMATE
    assert got.reasons["parallel"].text == "auto: a slot for each of up to 8 requests at once"
    assert got.report is not None and got.report.options.n_parallel == 8


def test_short_memory_gets_the_most_slots_that_fit_at_the_context_asked() -> None:
    """SmolLM2's KV cache is 48 MiB per slot at 4096 tokens in q8_0 (the cpu profile's; 90 in
    f16): 1.5 GiB of RAM, 1 GiB of it kept free, holds the weights and a few slots, not
    eight."""
    snapshot = machine(ram_gib=1.5)
    got = plan(smollm2(), snapshot)
    slots = got.options["parallel"]
    assert 1 < slots < 8, slots
    assert got.options["ctx_size"] == 4096, "the context is kept; the slots give way"
    assert slots_fit(got, smollm2(), snapshot, slots).verdict.fits
    assert not slots_fit(got, smollm2(), snapshot, slots + 1).verdict.fits
    assert got.reasons["parallel"].text == "auto: the most that fit (8 do not)"


def test_when_not_even_one_slot_fits_the_context_shrinks_instead() -> None:
    got = plan(smollm2(), machine(ram_gib=1.15))
    assert got.options["parallel"] == 1
    assert got.reasons["parallel"].text == "auto: not even one slot fits at this context"
    assert got.reasons["ctx_size"].text.startswith("the largest context that fits (")
    assert got.refusal is None


def test_a_refusal_suggests_a_q8_0_cache_only_where_the_cache_is_not_one_already() -> None:
    already = plan(smollm2(), machine(ram_gib=1.05))
    assert already.refusal is not None and "KV cache" not in already.refusal
    given = {"cache_type_k": "f16", "cache_type_v": "f16"}
    full = plan(smollm2(), machine(ram_gib=1.05), given)
    assert full.refusal is not None and "a q8_0 KV cache" in full.refusal


def test_slots_never_push_layers_off_the_gpu() -> None:
    """Llama 3.1 8B Q8_0 with 32k tokens per slot on one recorded RTX 3090 (24 GiB): one
    slot's 4 GiB KV cache and the weights fit whole; eight slots would not, so auto takes
    the most that still keep every layer on the GPU."""
    snapshot = one_gpu(machine(RTX_3090))
    shape = shape_from_catalog(load_catalog().get("llama-3.1-8b-instruct"), "Q8_0")
    got = plan(shape, snapshot, {"ctx_size": 32768}, profile="gpu-24gb")
    slots, layers = got.options["parallel"], got.options["n_gpu_layers"]
    assert 1 < slots < 8, slots
    assert layers == shape.n_layers + 1, "all layers, as with one slot"
    more = slots_fit(got, shape, snapshot, slots + 1)
    assert more.placement.n_gpu_layers < layers
    assert got.reasons["parallel"].text == f"auto: the most that keep {layers} layers on the GPU"


def test_slots_given_or_set_by_a_profile_are_kept() -> None:
    assert plan(smollm2(), machine(ram_gib=16), {"parallel": 3}).options["parallel"] == 3
    latency = plan(smollm2(), machine(ram_gib=16), profile="latency")
    assert (latency.options["parallel"], latency.reasons["parallel"].origin) == (1, Origin.PROFILE)


def test_without_a_memory_estimate_auto_is_four() -> None:
    got = plan(None, machine())
    assert got.options["parallel"] == 4
    assert got.reasons["parallel"].text == "auto: 4, as the model's memory cannot be estimated"
    assert LlamaCppOptions().slots == 4, "options no plan resolved start four slots"


def test_auto_slots_on_the_command_line_and_in_a_profile_parse() -> None:
    assert LlamaCppOptions.model_validate({"parallel": "auto"}).parallel == "auto"
    assert LlamaCppOptions.model_validate({"parallel": "6"}).slots == 6
    snapshot = machine(ram_gib=16)
    cpu = ProfileLibrary.load().resolve("cpu", snapshot)
    profile = dataclasses.replace(cpu, engine={**cpu.engine, "parallel": "auto"})
    got = resolve_options(smollm2(), snapshot, profile, {}, {**DEFAULTS, "parallel": 2}, keys=KEYS)
    assert got.options["parallel"] == 8


@pytest.mark.parametrize("flag", ["--parallel", "--n-gpu-layers"])
def test_a_value_that_is_neither_a_number_nor_auto_is_refused_by_the_engine(
    flag: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Checked against the engine's declaration before the plan reads it: exit 2 and the
    option named, not an internal error from the estimate's arithmetic."""
    monkeypatch.setenv("HOSTBENCH_HOME", str(tmp_path / "home"))
    model = write_tiny_gguf(tmp_path / "tiny.gguf", TinyModel(n_ctx=2048))
    code = main(["launch", str(model), flag, "abc", "--dry-run"])
    err = capsys.readouterr().err
    assert code == ExitCode.USAGE, err
    assert f"invalid option {flag}: Input should be a valid integer" in err
    assert "internal error" not in err
