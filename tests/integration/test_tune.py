"""`hostbench tune` with the real default model on llama-server, a tiny budget and one
setting: a tuned profile is written with its measurements and versions, `launch` picks
it up and says so, a changed version makes it stale, the budget is kept, and Ctrl-C
leaves no engine behind. No assertion is about speed: the machine is shared."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from profiles.library import ProfileLibrary
from profiles.tuned import write_tuned_profile
from tests.servers import DEFAULT_MODEL, ROOT, hostbench_env, run_cli

BUDGET_S = 80
TUNE_ARGS = ("--concurrency", "2", "--settings", "parallel,offload", "--input-len", "16")
"""One setting to measure (offload cannot apply on a CPU: it is skipped, and said so), two
streams, short prompts: a few seconds per measurement here."""


@pytest.fixture(scope="module")
def tuned(session_home: Path) -> Iterator[dict[str, Any]]:
    began = time.monotonic()
    done = run_cli(
        session_home, "tune", DEFAULT_MODEL, "--budget", str(BUDGET_S), *TUNE_ARGS,
        "--output-len", "8", "--json",
    )  # fmt: skip
    wall_s = time.monotonic() - began
    assert done.returncode == 0, done.stderr
    yield {"outcome": json.loads(done.stdout), "stderr": done.stderr, "wall_s": wall_s}


def dry_run(home: Path, *extra: str) -> tuple[dict[str, Any], str]:
    done = run_cli(home, "launch", DEFAULT_MODEL, "--dry-run", "--json", *extra)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout), done.stderr


def test_profile_holds_the_measurements_and_the_versions(tuned: dict[str, Any]) -> None:
    outcome = tuned["outcome"]
    path = Path(outcome["path"])
    profile = ProfileLibrary.load(path.parent).get(outcome["profile"])
    assert profile.tuned is not None and profile.tuned.model == outcome["model"]
    identity = profile.tuned.identity
    assert identity["engine"].startswith("llama-server ") and "unknown" not in identity["engine"]
    assert set(identity) == {"hostbench", "engine_id", "engine", "cpu", "gpu_driver"}
    defaults = [t for t in profile.tuned.trials if t["setting"] == "default"]
    assert defaults and all(set(t["tok_s"]) == {"1", "2"} for t in defaults)
    assert all(v > 0 for t in defaults for v in t["tok_s"].values())
    assert any(s.startswith("offload: no GPU") for s in profile.tuned.skipped)
    assert "[1/" in tuned["stderr"] and "s of the budget left" in tuned["stderr"]


def test_the_budget_is_kept(tuned: dict[str, Any]) -> None:
    """The search's own clock, and the whole command (Python start and model checks
    included) with a generous allowance."""
    assert tuned["outcome"]["elapsed_s"] <= BUDGET_S + 1
    assert tuned["wall_s"] <= BUDGET_S + 30


def test_launch_uses_the_tuned_profile_and_says_so(
    tuned: dict[str, Any], session_home: Path
) -> None:
    plan, stderr = dry_run(session_home)
    name = tuned["outcome"]["profile"]
    assert f"using tuned profile {name} (tuned 20" in stderr
    assert plan["profile"][-1] == name
    for key, value in tuned["outcome"]["options"].items():
        assert plan["options"][key] == value
        assert plan["reasons"][key].startswith(f"profile {name} (tuned 20")
        assert "stream" in plan["reasons"][key] and "tok/s" in plan["reasons"][key]
    explicit, stderr = dry_run(session_home, "--profile", "auto")
    assert "tuned" not in stderr and name not in explicit["profile"]


def test_a_changed_engine_build_makes_it_stale(tuned: dict[str, Any], session_home: Path) -> None:
    path = Path(tuned["outcome"]["path"])
    original = path.read_text()
    profile = ProfileLibrary.load(path.parent).get(tuned["outcome"]["profile"])
    assert profile.tuned is not None
    identity = {**profile.tuned.identity, "engine": "llama-server 0.0.1 (build 1, commit 0000000)"}
    older = profile.tuned.model_copy(update={"identity": identity})
    try:
        write_tuned_profile(path.parent, profile.name, profile.engine, older)
        plan, stderr = dry_run(session_home)
        notes = [line for line in stderr.splitlines() if profile.name in line]
        assert (
            len(notes) == 1 and "ignored" in notes[0] and "engine: llama-server 0.0.1" in notes[0]
        )
        assert profile.name not in plan["profile"]
        assert not any("tuned" in why for why in plan["reasons"].values())
    finally:
        path.write_text(original)


def _engines_of(proc: psutil.Process) -> list[psutil.Process]:
    try:
        return [p for p in proc.children(recursive=True) if "llama-server" in p.name()]
    except psutil.NoSuchProcess:
        return []


def test_ctrl_c_stops_the_engine_and_writes_nothing(session_home: Path) -> None:
    profiles = sorted((session_home / "config" / "profiles").glob("*.toml"))
    before = {p: p.read_text() for p in profiles}
    proc = subprocess.Popen(
        [sys.executable, "-m", "app", "tune", DEFAULT_MODEL, "--budget", "300", *TUNE_ARGS],
        cwd=ROOT, env=hostbench_env(session_home),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline, engines = time.monotonic() + 120, []
    while time.monotonic() < deadline and not engines and proc.poll() is None:
        engines = _engines_of(psutil.Process(proc.pid))
        time.sleep(0.2)
    assert engines, "no engine started within 120 s"
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    _gone, alive = psutil.wait_procs(engines, timeout=10)
    assert not alive, f"engine(s) left running: {[p.pid for p in alive]}"
    after = sorted((session_home / "config" / "profiles").glob("*.toml"))
    assert {p: p.read_text() for p in after} == before
