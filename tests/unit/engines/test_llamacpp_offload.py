"""Offload is planned only where the llama.cpp program that will serve has a GPU backend:
a Mac is Apple silicon whichever build runs on it. The program is asked with
`--list-devices`; what it says is replayed from recorded real listings
(tests/fixtures/apple/list_devices_*.json, each with its source): a Metal build on an
M1 Max and one on an M4 Max (published), and hostbench's CPU build (recorded on this
project's Linux test machine). No Mac ran these tests."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from engines.llamacpp import LlamaCppEngine
from engines.llamacpp.devices import gpu_devices, listed_devices, server_offload_check
from hardware import MachineSnapshot
from profiles import EngineSettings, Locations, Settings
from storage import Store
from tests.gguf_files import TinyModel, write_tiny_gguf
from tests.unit.catalog.conftest import machine
from tests.unit.hardware.conftest import FIXTURES
from tests.unit.hardware.test_apple_metal import mac
from workflows.launching import Launcher, LaunchOrder, Plan

LISTINGS = (
    "list_devices_cpu_build",
    "list_devices_m1_max_metal",
    "list_devices_m4_max_metal_bench",
)


def recorded(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / "apple" / f"{name}.json").read_text("utf-8"))


def replaying(tmp_path: Path, name: str | None, *, returncode: int | None = None) -> Path:
    """A llama-server that starts (`--version`) and answers `--list-devices` with the
    recorded listing `name` (or with nothing and `returncode`); each question is logged."""
    reading = recorded(name) if name else {"stdout": "", "stderr": "", "returncode": 1}
    tmp_path.mkdir(parents=True, exist_ok=True)
    out, err = tmp_path / "listing.out", tmp_path / "listing.err"
    out.write_text(reading["stdout"], "utf-8")
    err.write_text(reading["stderr"] or "", "utf-8")
    code = reading["returncode"] if returncode is None else returncode
    asked = shlex.quote(str(tmp_path / "asked"))
    program = tmp_path / "llama-server"
    program.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = "--list-devices" ]; then\n'
        f"  echo asked >> {asked}\n"
        f"  cat {shlex.quote(str(out))}; cat {shlex.quote(str(err))} >&2; exit {code}\n"
        "fi\nexit 0\n"
    )
    program.chmod(0o755)
    return program


def times_asked(tmp_path: Path) -> int:
    log = tmp_path / "asked"
    return len(log.read_text().splitlines()) if log.is_file() else 0


@pytest.mark.parametrize("name", LISTINGS)
def test_the_gpus_a_listing_names(name: str) -> None:
    """`BLAS: Accelerate` beside the Metal device is no GPU; `(none)` is no device."""
    reading = recorded(name)
    assert gpu_devices(reading["stdout"]) == reading["expected_gpus"]


def test_the_cpu_build_here_still_lists_what_was_recorded() -> None:
    """The CPU-build listing was recorded from hostbench's own build on this machine; run
    it again where that build is present."""
    built = sorted(Locations.from_env().build_dir.glob("llama-cpp/*-cpu-*/llama-server"))
    if not built:
        pytest.skip("no CPU build of llama-server here (hostbench engines build makes one)")
    done = subprocess.run([built[0], "--list-devices"], capture_output=True, text=True, check=False)
    reading = recorded("list_devices_cpu_build")
    assert (done.returncode, done.stdout) == (reading["returncode"], reading["stdout"])


def test_a_metal_build_may_offload_and_a_cpu_build_may_not(tmp_path: Path) -> None:
    metal = replaying(tmp_path / "metal", "list_devices_m1_max_metal")
    assert server_offload_check(metal, tmp_path / "cache").refusal is None
    cpu = replaying(tmp_path / "cpu", "list_devices_cpu_build")
    check = server_offload_check(cpu, tmp_path / "cache")
    assert check.refusal == f"this build has no GPU backend: {cpu}" and check.note is None


def test_a_build_is_asked_once_until_it_changes(tmp_path: Path) -> None:
    program = replaying(tmp_path / "metal", "list_devices_m4_max_metal_bench")
    cache = tmp_path / "cache"
    first = listed_devices(program, cache)
    assert listed_devices(program, cache) == first and times_asked(tmp_path / "metal") == 1
    program.write_text(program.read_text() + "\n")  # rebuilt: another size and time
    listed_devices(program, cache)
    assert times_asked(tmp_path / "metal") == 2


def test_a_build_that_cannot_be_asked_keeps_the_gpus_and_says_so(tmp_path: Path) -> None:
    gone = tmp_path / "gone" / "llama-server"
    check = server_offload_check(gone, tmp_path / "cache")
    assert check.refusal is None and check.note is not None
    assert check.note.startswith(f"could not ask {gone} which devices it has (")
    assert check.note.endswith("planned for the GPUs found, as if it had a GPU backend")
    failing = replaying(tmp_path / "old", None, returncode=1)
    check = server_offload_check(failing, tmp_path / "cache")
    assert check.refusal is None and check.note is not None and "exit status 1" in check.note
    server_offload_check(failing, tmp_path / "cache")
    assert times_asked(tmp_path / "old") == 2, "a failure is not kept: asked again next time"


def test_the_python_runtime_answers_for_its_own_build(tmp_path: Path) -> None:
    llama_cpp = pytest.importorskip("llama_cpp")
    engine = LlamaCppEngine(
        EngineSettings(prefer_llama_server=False), Locations(tmp_path, tmp_path, tmp_path)
    )
    check = engine.offload_check()
    if llama_cpp.llama_supports_gpu_offload():
        assert check.refusal is None
    else:
        assert (
            check.refusal == f"this build has no GPU backend: llama-cpp-python in {sys.executable}"
        )


def launcher_for(program: Path) -> Launcher:
    """A launcher whose llama.cpp engine runs `program`."""
    locations = Locations.from_env()
    locations.store_path.parent.mkdir(parents=True, exist_ok=True)
    settings = Settings(engines=EngineSettings(llama_server_path=program))
    return Launcher(settings, locations, Store(locations.store_path))


def planned(launcher: Launcher, model: Path, snapshot: MachineSnapshot, here: bool) -> Plan:
    order = LaunchOrder(str(model), "llama.cpp", {"parallel": 1})
    return launcher.plan(order, snapshot=snapshot, remote=False, here=here)


@pytest.fixture
def model(tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A real GGUF header of 4 layers, in a fresh home whose cache (where listings are
    kept) is the test's own."""
    monkeypatch.setenv("HOSTBENCH_CACHE_DIR", str(tmp_path / "cache"))
    return write_tiny_gguf(tmp_path / "tiny.gguf", TinyModel(n_ctx=2048))


def test_a_mac_with_a_metal_build_offloads_into_its_gpu_budget(tmp_path: Path, model: Path) -> None:
    program = replaying(tmp_path / "metal", "list_devices_m1_max_metal")
    snapshot = mac("m2_pro_32gb_system_profiler", 28)
    plan = planned(launcher_for(program), model, snapshot, here=True)
    assert plan.resolution.options["n_gpu_layers"] == 5
    assert plan.resolution.reasons["n_gpu_layers"].text.startswith("5 of 5: all layers fit")
    assert plan.memory.basis.startswith("fit estimate: ")
    assert plan.memory.basis.endswith(" GiB of unified memory (GPU budget), 5 of 5 layers")


def test_a_mac_with_a_cpu_build_plans_no_offload_and_says_why(tmp_path: Path, model: Path) -> None:
    """The Mac then matches the `cpu` profile, and the note says why; a profile that leaves
    `n_gpu_layers` to the estimate gets the reason there too."""
    program = replaying(tmp_path / "cpu", "list_devices_cpu_build")
    snapshot = mac("m2_pro_32gb_system_profiler", 28)
    launcher = launcher_for(program)
    plan = planned(launcher, model, snapshot, here=True)
    assert plan.resolution.profile.chain[-1] == "cpu"
    assert plan.resolution.options["n_gpu_layers"] == 0
    assert plan.memory.basis.endswith(" GiB of RAM")
    assert launcher.notes == [
        "planned without the GPUs found (Apple M2 Pro): llama.cpp: this build has no GPU "
        f"backend: {program}"
    ]
    order = LaunchOrder(str(model), "llama.cpp", {"parallel": 1}, profile="gpu-24gb")
    named = launcher.plan(order, snapshot=snapshot, remote=False, here=True)
    assert named.resolution.options["n_gpu_layers"] == 0
    assert named.resolution.reasons["n_gpu_layers"].text == (
        f"no usable GPU (llama.cpp: this build has no GPU backend: {program})"
    )
    other = planned(launcher, model, snapshot, here=False)  # another machine's reading
    assert other.resolution.options["n_gpu_layers"] == 5


def test_a_failed_question_plans_as_before_with_a_note(tmp_path: Path, model: Path) -> None:
    program = replaying(tmp_path / "old", None, returncode=1)
    snapshot = mac("m2_pro_32gb_system_profiler", 28)
    launcher = launcher_for(program)
    plan = planned(launcher, model, snapshot, here=True)
    assert plan.resolution.options["n_gpu_layers"] == 5
    (note,) = launcher.notes
    assert note.startswith(f"could not ask {program} which devices it has (exit status 1")


def test_dedicated_gpu_memory_is_still_called_vram(tmp_path: Path, model: Path) -> None:
    program = replaying(tmp_path / "metal", "list_devices_m1_max_metal")
    snapshot = machine("one_gpu_rtx5090")
    plan = planned(launcher_for(program), model, snapshot, here=False)
    assert plan.memory.basis.endswith(" GiB of VRAM, 5 of 5 layers")
