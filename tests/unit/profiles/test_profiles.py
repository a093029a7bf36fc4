"""Launch profiles: shipped ones load, hardware matching on recorded readings, `extends`,
user profiles, and the resolver that explains every chosen option."""

from __future__ import annotations

from pathlib import Path

import pytest

from catalog import load_catalog
from catalog.model_shape import shape_from_catalog
from engines.llamacpp.adapter import LlamaCppOptions
from engines.openai_compat import OpenAICompatibleOptions
from engines.vllm import VllmOptions
from profiles.library import ProfileError, ProfileLibrary
from profiles.resolver import resolve_options
from tests.unit.catalog.conftest import machine, smollm2

HARDWARE_AND_GOALS = {
    "cpu", "gpu-8gb", "gpu-24gb", "gpu-80gb", "multi-gpu", "latency", "throughput",
}  # fmt: skip
PRESETS = {
    "sglang", "tgi", "trtllm-serve", "triton-openai", "llama-server-own", "llama-cpp-python",
}  # fmt: skip
SHIPPED = HARDWARE_AND_GOALS | PRESETS
DEFAULTS = LlamaCppOptions().model_dump()
OPTIONS_BY_ENGINE = {
    "llama.cpp": LlamaCppOptions,
    "vllm": VllmOptions,
    "openai-compatible": OpenAICompatibleOptions,
}


@pytest.fixture
def library() -> ProfileLibrary:
    return ProfileLibrary.load()


def test_shipped_profiles_load_and_their_options_are_valid(library: ProfileLibrary) -> None:
    assert library.problems == ()
    assert set(library.profiles) == SHIPPED
    snapshot = machine()
    for name in SHIPPED:
        for engine, options in OPTIONS_BY_ENGINE.items():
            options.model_validate(library.resolve(name, snapshot, engine).engine)


def test_presets_name_their_engine_and_hardware_profiles_tune_each_engine(
    library: ProfileLibrary,
) -> None:
    assert {library.engine_of(name) for name in PRESETS} == {"openai-compatible"}
    assert library.engine_of("throughput") is None
    snapshot = machine("process_a100")
    vllm = library.resolve(None, snapshot, "vllm")
    assert vllm.name == "gpu-80gb" and vllm.engine["max_model_len"] == 32768
    assert "n_gpu_layers" not in vllm.engine, "llama.cpp's options stay with llama.cpp"
    sglang = library.resolve("sglang", snapshot, "openai-compatible").engine
    assert "{served_name}" in sglang["command"] and sglang["model_format"] == "hf"
    assert library.resolve("sglang", snapshot).engine == {}, "nothing for llama.cpp in it"


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        (None, "cpu"),
        ("power_unsupported_gtx1050ti", "gpu-8gb"),
        ("one_gpu_rtx5090", "gpu-24gb"),
        ("process_a100", "gpu-80gb"),
        ("two_gpus_h100_rtx4060ti", "multi-gpu"),
    ],
)
def test_the_matching_profile_follows_the_hardware(
    library: ProfileLibrary, fixture: str | None, expected: str
) -> None:
    assert library.matching(machine(fixture)).name == expected
    assert library.resolve(None, machine(fixture)).name == expected


def test_goal_profiles_extend_the_machine_profile(library: ProfileLibrary) -> None:
    resolved = library.resolve("throughput", machine("one_gpu_rtx5090"))
    assert resolved.chain == ("gpu-24gb", "throughput")
    assert resolved.engine["parallel"] == 16 and resolved.engine["ctx_size"] == 8192
    assert resolved.source == {
        "n_gpu_layers": "gpu-24gb",
        "ctx_size": "gpu-24gb",
        "parallel": "throughput",
        "cache_type_k": "throughput",
        "cache_type_v": "throughput",
        "flash_attn": "throughput",
    }


def test_user_profiles_extend_override_and_fail_alone(tmp_path: Path) -> None:
    (tmp_path / "mine.toml").write_text(
        'name = "mine"\nextends = "latency"\n[engine]\nctx_size = 2048\n'
        "[cost]\nelectricity_usd_per_kwh = 0.31\nhardware_usd = 2400\namortization_months = 36\n"
    )
    (tmp_path / "cpu.toml").write_text(
        'name = "cpu"\n[match]\nmax_gpus = 0\n[engine]\nthreads = 2\n'
    )
    (tmp_path / "bad.toml").write_text('name = "bad"\n[cost]\nelectricity_usd_per_kwh = -1\n')
    (tmp_path / "loop-a.toml").write_text('name = "loop-a"\nextends = "loop-b"\n')
    (tmp_path / "loop-b.toml").write_text('name = "loop-b"\nextends = "loop-a"\n')
    library = ProfileLibrary.load(tmp_path)
    assert [p.split(": ")[0] for p in library.problems] == [str(tmp_path / "bad.toml")]
    mine = library.resolve("mine", machine())
    assert mine.chain == ("cpu", "latency", "mine")
    assert mine.engine == {"threads": 2, "parallel": 1, "ctx_size": 2048}
    assert mine.cost.electricity_usd_per_kwh == 0.31 and mine.cost.amortization_months == 36
    with pytest.raises(ProfileError, match="loops"):
        library.resolve("loop-a", machine())
    with pytest.raises(ProfileError, match="did you mean latency"):
        library.resolve("latenc", machine())


def test_explicit_flags_win_and_every_value_has_a_reason(library: ProfileLibrary) -> None:
    snapshot = machine("one_gpu_rtx5090")
    profile = library.resolve("gpu-24gb", snapshot)
    got = resolve_options(
        smollm2(), snapshot, profile, {"parallel": 2}, DEFAULTS, keys=LlamaCppOptions.estimate_keys
    )
    assert got.refusal is None
    assert (
        got.options["parallel"] == 2 and str(got.reasons["parallel"]) == "given on the command line"
    )
    assert got.options["ctx_size"] == 8192 and str(got.reasons["ctx_size"]) == "profile gpu-24gb"
    assert got.options["n_gpu_layers"] == 31
    assert got.reasons["n_gpu_layers"].text.startswith("31 of 31: all layers fit")
    assert str(got.reasons["threads"]) == "engine default (decided when it starts)"
    assert str(got.reasons["batch_size"]) == "engine default"
    LlamaCppOptions.model_validate(got.options)


def test_partial_offload_is_explained_per_layer(library: ProfileLibrary) -> None:
    snapshot = machine("power_unsupported_gtx1050ti")
    shape = shape_from_catalog(load_catalog().get("llama-3.1-8b-instruct"), "Q4_K_M")
    got = resolve_options(
        shape,
        snapshot,
        library.resolve(None, snapshot),
        {},
        DEFAULTS,
        keys=LlamaCppOptions.estimate_keys,
    )
    layers = got.options["n_gpu_layers"]
    assert 0 < layers < 33
    assert got.reasons["n_gpu_layers"].text.startswith(f"{layers} of 33: ")
    assert "GiB free" in str(got.reasons["n_gpu_layers"]) and "GiB per layer" in str(
        got.reasons["n_gpu_layers"]
    )


def test_context_is_capped_then_shrunk_to_fit_unless_explicit(library: ProfileLibrary) -> None:
    snapshot = machine(ram_gib=1.15)
    profile = library.resolve("cpu", snapshot)
    capped = resolve_options(
        smollm2(),
        machine(),
        profile,
        {},
        {**DEFAULTS, "ctx_size": 32768},
        keys=LlamaCppOptions.estimate_keys,
    )
    assert capped.options["ctx_size"] == 8192
    assert capped.reasons["ctx_size"].text.startswith("the model's trained context")
    shrunk = resolve_options(
        smollm2(),
        snapshot,
        profile,
        {},
        {**DEFAULTS, "parallel": 1},
        keys=LlamaCppOptions.estimate_keys,
    )
    assert shrunk.refusal is None and shrunk.options["ctx_size"] < 4096
    assert "largest context that fits" in str(shrunk.reasons["ctx_size"])
    refused = resolve_options(
        smollm2(),
        snapshot,
        profile,
        {"ctx_size": 8192},
        DEFAULTS,
        keys=LlamaCppOptions.estimate_keys,
    )
    assert refused.refusal is not None
    assert "does not fit at ctx_size=8192" in refused.refusal and "RAM needs" in refused.refusal
