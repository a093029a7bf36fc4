"""How the estimate and the measured memory read in `ps`, `bench show` and the Engines
screen."""

from __future__ import annotations

from app.cli.commands.bench_runs import memory_lines
from app.cli.commands.ps import _measured
from app.tui.readings import memory_caption
from control.api import EngineStatus
from hardware.snapshots import ProcessSnapshot

MIB = 1 << 20


def test_ps_shows_what_the_engine_holds_and_the_estimate_error() -> None:
    status = EngineStatus(
        name="m", engine="llama.cpp", model="m", model_path="/m.gguf", state="ready",
        memory_measured_bytes=200 * MIB, memory_error_percent=5.0,
    )  # fmt: skip
    assert _measured(status) == "200.0 MiB (+5.0 %)"
    assert _measured(status.model_copy(update={"memory_measured_bytes": None})) is None


def test_bench_show_names_both_figures_and_their_bases() -> None:
    memory = {
        "estimate_bytes": 210 * MIB,
        "estimate_basis": "fit estimate: 0.21 GiB of RAM",
        "measured_bytes": 200 * MIB,
        "measured_basis": "resident memory of the engine's process",
        "error_percent": 5.0,
    }
    (line,) = memory_lines(memory)
    assert line.startswith("memory: estimate 210.0 MiB, measured 200.0 MiB (estimate +5.0 %)")
    assert "fit estimate" in line and "resident memory" in line
    assert memory_lines(None) == [] and memory_lines({"estimate_bytes": None}) == []


def test_the_engines_screen_caption() -> None:
    process = ProcessSnapshot("small", 1, 200 * MIB, None, 0)
    assert memory_caption(process, 210 * MIB, 5.0) == "200.0 MiB, est 210.0 MiB (+5.0 %)"
    assert memory_caption(None, None, None) == "-"
