"""Tuned profiles: written as TOML the profile library loads, found by model name, stale
when the recorded identity differs, and summarised for launch's reasons."""

from __future__ import annotations

from pathlib import Path

from profiles.library import ProfileLibrary
from profiles.tuned import (
    TunedRecord,
    find_tuned,
    stale_fields,
    tuned_profile_name,
    tuned_summary,
    write_tuned_profile,
)

IDENTITY = {
    "hostbench": "0.1.0",
    "engine_id": "llama.cpp",
    "engine": "llama-server 1 (5e11d28)",
    "cpu": "Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz",
    "gpu_driver": "none",
}


def record(**changes: object) -> TunedRecord:
    values = {
        "model": "smollm2-135m-instruct:Q4_1",
        "names": ["smollm2-135m-instruct", "smollm2-135m-instruct:Q4_1"],
        "date": "2026-12-04T17:50:00+00:00",
        "identity": IDENTITY,
        "concurrency": 8,
        "budget_s": 180.0,
        "elapsed_s": 171.2,
        "complete": False,
        "default_tok_s": {"1": 40.5, "8": 91.0},
        "best_tok_s": {"1": 40.1, "8": 129.0},
        "skipped": ["offload: no GPU on this machine (CPU only)", 'quote " and \\ survive'],
        "trials": [
            {"setting": "default", "change": "", "tok_s": {"1": 40.0, "8": 90.0}},
            {
                "setting": "parallel",
                "change": "parallel=8",
                "kept": True,
                "why": "faster: 8x +42%",
                "incumbent_tok_s": {"1": 40.5, "8": 91.0},
                "noise": {"1": 0.025, "8": 0.02},
            },
        ],
    }
    return TunedRecord.model_validate({**values, **changes})


def test_written_profile_loads_with_its_measurements(tmp_path: Path) -> None:
    name = tuned_profile_name("smollm2-135m-instruct:Q4_1")
    assert name == "tuned-smollm2-135m-instruct-q4_1"
    path = write_tuned_profile(tmp_path, name, {"parallel": 8, "flash_attn": "on"}, record())
    library = ProfileLibrary.load(tmp_path)
    assert library.problems == ()
    profile = library.get(name)
    assert profile.extends == "auto" and profile.engine == {"parallel": 8, "flash_attn": "on"}
    assert profile.tuned == record()
    assert path.read_text().startswith("# Written by `hostbench tune`")
    assert not list(tmp_path.glob(".*partial"))


def test_found_by_any_recorded_name_case_blind(tmp_path: Path) -> None:
    write_tuned_profile(tmp_path, "tuned-x", {"parallel": 8}, record())
    profiles = ProfileLibrary.load(tmp_path).profiles
    assert find_tuned(profiles, ["SmolLM2-135M-Instruct"]).name == "tuned-x"  # type: ignore[union-attr]
    assert find_tuned(profiles, ["qwen2.5-0.5b-instruct", ""]) is None


def test_stale_when_any_recorded_version_differs() -> None:
    assert stale_fields(record(), IDENTITY) == []
    changed = {**IDENTITY, "engine": "llama-server 2 (77aa001)"}
    assert stale_fields(record(), changed) == [
        "engine: llama-server 1 (5e11d28) -> llama-server 2 (77aa001)"
    ]
    assert stale_fields(record(), {**IDENTITY, "gpu_driver": "550.54"}) == [
        "gpu_driver: none -> 550.54"
    ]


def test_summary_for_launch_reasons() -> None:
    assert tuned_summary(record()) == "tuned 2026-12-04: 1 stream 40.1 tok/s, 8 streams 129.0 tok/s"
