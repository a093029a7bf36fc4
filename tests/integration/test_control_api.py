"""The control API: telemetry of the machine and of each engine process, engine logs."""

from __future__ import annotations

import time

from tests.servers import DEFAULT_MODEL, ServerProcess


def test_telemetry_follows_the_engine_process(default_server: ServerProcess) -> None:
    engine_pid = default_server.engine()["pid"]
    deadline = time.monotonic() + 30
    processes: list[dict[str, object]] = []
    while time.monotonic() < deadline and not processes:
        reading = default_server.control("GET", "/api/telemetry").json()
        processes = [p for p in reading["processes"] if p["pid"] == engine_pid]
        time.sleep(0.2)
    assert processes, "the sampler never reported the engine process"
    assert processes[0]["name"] == DEFAULT_MODEL
    assert processes[0]["rss_bytes"] > 50 * 2**20, "the engine holds the model in memory"
    assert reading["memory"]["ram_total_bytes"] > 0 and reading["cpu"]["physical_cores"] >= 1
    history = default_server.control("GET", "/api/telemetry/history").json()
    assert history and history[-1]["timestamp_s"] <= time.time()
    newer = default_server.control(
        "GET", "/api/telemetry/history", params={"since": history[-1]["timestamp_s"]}
    ).json()
    assert all(h["timestamp_s"] > history[-1]["timestamp_s"] for h in newer)


def test_engine_log_tail(default_server: ServerProcess) -> None:
    lines = default_server.control(
        "GET", f"/api/engines/{DEFAULT_MODEL}/log", params={"lines": 5}
    ).json()["lines"]
    assert 0 < len(lines) <= 5
    missing = default_server.control("GET", "/api/engines/nope/log")
    assert missing.status_code == 404
