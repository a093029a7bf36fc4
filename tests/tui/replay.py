"""A recorded hostbench server, replayed through the control-API calls the workbench makes.

The recording (`tests/fixtures/tui/server.json`) is what a real server on the project's
test machine answered while the default model served chat traffic (record it again with
`python -m tests.tui.replay --url URL --home HOME`; the Compare screen's stored sweep
with `--bench --home HOME`). GPUs cannot exist on that machine, so
the GPU variant puts a recorded real NVML reading (`tests/fixtures/nvml/*.json`) into each
telemetry sample (a double only for what cannot exist here, replaying a real
reading). Snapshots stay deterministic: fixed timestamps, PIDs and log lines.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any

import httpx

from control.api import EngineLog, EngineStatus, LaunchBody
from hardware import MachineSnapshot, snapshot_from_dict, snapshot_to_dict
from storage import Store

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
RECORDING = FIXTURES / "tui" / "server.json"
BENCH_RECORDING = FIXTURES / "tui" / "bench_runs.json"
"""The newest stored sweep of a real quick bench (rows of the store's `bench_runs` table,
without per-request rows), for the Compare screen's snapshots."""


class ReplayClient:
    """Answers like `ControlClient` from a recording; launches and stops are refused."""

    base_url = "http://127.0.0.1:8080"

    def __init__(self, recording: dict[str, Any]) -> None:
        self.recording = recording

    @classmethod
    def load(cls, gpus: str | None = None) -> ReplayClient:
        recording = json.loads(RECORDING.read_text("utf-8"))
        if gpus is not None:
            recording = with_gpus(recording, gpus)
        return cls(recording)

    @property
    def polled_at(self) -> float:
        return float(self.recording["polled_at"])

    @property
    def machine(self) -> MachineSnapshot:
        return snapshot_from_dict(self.recording["telemetry"][-1])

    def probe(self) -> dict[str, Any] | None:
        return {"service": "hostbench", "status": "ok"}

    def engines(self) -> list[EngineStatus]:
        """The recorded reply, read as the real client reads it (control/api.py)."""
        return [EngineStatus.model_validate(e) for e in self.recording["engines"]]

    def launch(self, body: LaunchBody, timeout_s: float = 0) -> EngineStatus:
        raise RuntimeError("a recorded server cannot launch")

    def stop(self, name: str) -> EngineStatus:
        raise RuntimeError("a recorded server cannot stop engines")

    def restart(self, name: str, timeout_s: float = 0) -> EngineStatus:
        raise RuntimeError("a recorded server cannot restart engines")

    def engine_log(self, name: str, lines: int = 50) -> EngineLog:
        return EngineLog(name=name, lines=self.recording["log"])

    def request(self, method: str, path: str, timeout_s: float | None = None, **kwargs: Any) -> Any:
        route = path.split("?", 1)[0]
        if route == "/api/telemetry/history":
            return self.recording["telemetry"]
        if route == "/api/requests":
            return self.recording["requests"]
        if route == "/api/engines":
            return self.recording["engines"]
        from control.client import ControlError

        if route == "/api/metrics/live" and "live" in self.recording:
            return self.recording["live"]
        raise ControlError(404, f"not recorded: {method} {path}")


def with_gpus(recording: dict[str, Any], reading: str) -> dict[str, Any]:
    """Each telemetry sample as if the machine had the GPUs of a recorded NVML reading."""
    from hardware.facts import GpuFactsTable
    from hardware.nvml import NvidiaBackend
    from hardware.nvml_replay import RecordedNvml

    nvml = RecordedNvml.from_file(FIXTURES / "nvml" / f"{reading}.json")
    backend = NvidiaBackend(api_factory=lambda: nvml, facts=GpuFactsTable.load())
    status = backend.open()
    gpus = backend.read()
    backend.close()
    samples = []
    for sample in recording["telemetry"]:
        snapshot = snapshot_from_dict(sample)
        snapshot = dataclasses.replace(snapshot, gpus=gpus, backends=(status,))
        samples.append(snapshot_to_dict(snapshot))
    return {**recording, "telemetry": samples}


def record(url: str, home: Path) -> dict[str, Any]:
    token = (home / "config" / "control-token").read_text().strip()
    headers = {"Authorization": f"Bearer {token}"}

    def get(path: str) -> Any:
        return httpx.get(url + path, headers=headers, timeout=30, trust_env=False).json()

    engines = get("/api/engines")
    log = get(f"/api/engines/{engines[0]['name']}/log?lines=60")["lines"] if engines else []
    telemetry = get("/api/telemetry/history")[-120:]
    return {
        "recorded_from": f"hostbench serve on the project's test machine ({machine_note()})",
        "polled_at": telemetry[-1]["timestamp_s"],
        "engines": engines,
        "telemetry": telemetry,
        "requests": get("/api/requests?limit=500"),
        "log": log,
    }


def machine_note() -> str:
    """The CPU, its cores and the load while recording, for the README's captions."""
    import os
    import platform

    from hardware.cpu import physical_core_count

    model = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        platform.processor() or "unknown CPU",
    )  # fmt: skip
    load = os.getloadavg()[0]
    return f"{model}, {physical_core_count()} cores, load average {load:.1f}"


def record_bench(home: Path) -> list[dict[str, Any]]:
    """The rows of the newest sweep in `home`'s store, as stored."""
    from bench.runs import BenchRuns
    from profiles import Locations

    store = Store(Locations.from_env({"HOSTBENCH_HOME": str(home)}).store_path)
    ids = [run.id for run in BenchRuns(store).newest_group(kind="hostbench")]
    with store.reading() as db:
        return [db.table("bench_runs").get(run_id) for run_id in ids]


def replay_bench(store: Store) -> None:
    """Store the recorded sweep as it was stored (same ids, same times)."""
    rows = json.loads(BENCH_RECORDING.read_text("utf-8"))
    with store.transaction() as db:
        db.table("bench_runs").insert_all(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description="Record a running server for TUI snapshots.")
    parser.add_argument("--url", help="record this server's answers (server.json)")
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument(
        "--bench", action="store_true", help="record the newest stored sweep (bench_runs.json)"
    )
    args = parser.parse_args()
    if args.bench:
        rows = record_bench(args.home)
        BENCH_RECORDING.write_text(json.dumps(rows, indent=1) + "\n", "utf-8")
    if args.url:
        RECORDING.write_text(json.dumps(record(args.url, args.home), indent=1) + "\n", "utf-8")


if __name__ == "__main__":
    main()
