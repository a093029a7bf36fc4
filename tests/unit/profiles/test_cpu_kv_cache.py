"""The `cpu` profile keeps the KV cache in q8_0, which llama.cpp allows only with flash
attention: turning flash attention off brings a profile's q8_0 V cache back to f16 with the
reason, and asking for both at once is refused naming the options. Machines are this one's
real reading with its RAM set, or a recorded RTX 3090 reading (tests/fixtures/nvml)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app.cli import main
from engines.llamacpp import LlamaCppEngine, LlamaCppOptions
from errors import ExitCode
from hardware import MachineSnapshot
from profiles import EngineSettings, Locations
from profiles.library import ProfileLibrary
from profiles.resolver import Origin, Resolution, resolve_options
from tests.gguf_files import TinyModel, write_tiny_gguf
from tests.unit.catalog.conftest import machine, smollm2
from tests.unit.test_llamacpp_adapter import MODEL, flag
from workflows.tuning.knobs import Machine, plan_settings

DEFAULTS = LlamaCppOptions().model_dump()


def plan(snapshot: MachineSnapshot, given: dict[str, Any], profile: str = "auto") -> Resolution:
    resolved = ProfileLibrary.load().resolve(profile, snapshot)
    keys = LlamaCppOptions.estimate_keys
    return resolve_options(smollm2(), snapshot, resolved, given, DEFAULTS, keys=keys)


def test_a_cpu_launch_gets_a_q8_0_cache_and_the_estimate_counts_it() -> None:
    got = plan(machine(ram_gib=16), {})
    assert (got.options["cache_type_k"], got.options["cache_type_v"]) == ("q8_0", "q8_0")
    assert got.reasons["cache_type_v"].text == "profile cpu"
    assert got.report is not None and got.report.options.type_v == "q8_0"


def test_a_gpu_launch_keeps_llama_cpps_f16_cache() -> None:
    got = plan(machine("two_gpus_rtx3090_recorded", ram_gib=64), {})
    assert got.profile.name != "cpu"
    assert (got.options["cache_type_k"], got.options["cache_type_v"]) == ("f16", "f16")


def test_flash_attention_off_brings_the_profiles_v_cache_back_to_f16() -> None:
    got = plan(machine(ram_gib=16), {"flash_attn": "off"})
    assert got.options["cache_type_v"] == "f16"
    assert got.options["cache_type_k"] == "q8_0", "a quantized K cache needs no flash attention"
    why = got.reasons["cache_type_v"]
    assert why.origin is Origin.DEFAULT
    assert why.text == "profile cpu asked q8_0, which needs flash attention (flash_attn off)"
    LlamaCppOptions.model_validate(got.options)


def test_a_quantized_v_cache_given_with_flash_attention_off_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(ValueError, match="cache_type_v q8_0 needs flash_attn on or auto"):
        LlamaCppOptions(flash_attn="off", cache_type_v="q8_0")
    monkeypatch.setenv("HOSTBENCH_HOME", str(tmp_path / "home"))
    model = write_tiny_gguf(tmp_path / "tiny.gguf", TinyModel(n_ctx=2048))
    args = ["--flash-attn", "off", "--cache-type-v", "q8_0", "--dry-run"]
    code = main(["launch", str(model), *args])
    err = capsys.readouterr().err
    assert code == ExitCode.USAGE, err
    assert "invalid options: cache_type_v q8_0 needs flash_attn on or auto" in err
    assert "internal error" not in err and "Value error" not in err


@pytest.mark.parametrize(
    ("flash", "cache", "expected"),
    [("auto", "q8_0", "True"), ("auto", "f16", "False"), ("on", "f16", "True")],
)
def test_the_python_server_turns_flash_attention_on_for_a_quantized_v_cache(
    tmp_path: Path, flash: str, cache: str, expected: str
) -> None:
    """Its `--flash_attn` is on or off; `auto` is off there unless the cache needs it."""
    engine = LlamaCppEngine(
        EngineSettings(prefer_llama_server=False), Locations(tmp_path, tmp_path, tmp_path)
    )
    options = LlamaCppOptions(flash_attn=flash, cache_type_v=cache)
    spec = engine.launch_spec(MODEL, "served", options, 9999)
    assert flag(spec.argv, "--flash_attn") == expected


def test_the_tuner_tries_f16_against_a_q8_0_start_and_leaves_flash_attention_on() -> None:
    start = {"parallel": 8, "flash_attn": "auto", "cache_type_k": "q8_0", "cache_type_v": "q8_0"}
    settings, skipped = plan_settings(start, Machine(2, 2, 0), 8, ["flash_attn", "kv_cache"])
    changes = {s.name: s.changes for s in settings}
    assert "flash_attn" not in changes and skipped[0].startswith("flash_attn: a quantized V")
    assert changes["kv_cache"] == ({"cache_type_k": "f16", "cache_type_v": "f16"},)


def test_the_openmp_spin_count_is_libgomps_unless_asked() -> None:
    """Measured against libgomp's default it made no difference beyond the noise
    (docs/benchmarks.md, "The engine's OpenMP workers"), so no profile sets it."""
    assert plan(machine(ram_gib=16), {}).options["omp_spin_count"] is None
    assert plan(machine(ram_gib=16), {"omp_spin_count": 1000}).options["omp_spin_count"] == 1000
