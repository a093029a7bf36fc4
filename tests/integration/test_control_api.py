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


def test_the_memory_estimate_stands_next_to_what_the_engine_holds(
    default_server: ServerProcess,
) -> None:
    """`GET /api/engines` (and so `hostbench ps` and every bench record) puts the launch's
    estimate next to the engine's resident memory on this CPU machine, with the error."""
    deadline = time.monotonic() + 30
    status = default_server.engine()
    while time.monotonic() < deadline and status.get("memory_measured_bytes") is None:
        time.sleep(0.2)
        status = default_server.engine()
    estimate, measured = status["memory_bytes"], status["memory_measured_bytes"]
    assert measured is not None and measured > 50 * 2**20, "the engine holds the model"
    assert status["memory_measured_basis"] == "resident memory of the engine's process"
    assert status["memory_error_percent"] == round(100 * (estimate - measured) / measured, 1)
    assert abs(status["memory_error_percent"]) < 80, "the estimate is of the right size"


def test_engine_log_tail(default_server: ServerProcess) -> None:
    lines = default_server.control(
        "GET", f"/api/engines/{DEFAULT_MODEL}/log", params={"lines": 5}
    ).json()["lines"]
    assert 0 < len(lines) <= 5
    missing = default_server.control("GET", "/api/engines/nope/log")
    assert missing.status_code == 404


def test_the_control_api_declares_its_replies(default_server: ServerProcess) -> None:
    """The control API's requests and replies (control/api.py) are in /openapi.json, and
    what the running server answers reads back through them."""
    from control.api import EngineStatus, PoolStatus

    schema = default_server.control("GET", "/openapi.json").json()
    paths, models = schema["paths"], schema["components"]["schemas"]
    assert {"EngineStatus", "PoolStatus", "LaunchBody", "EngineLog"} <= set(models)
    listed = paths["/api/engines"]["get"]["responses"]["200"]["content"]["application/json"]
    assert listed["schema"]["items"]["$ref"] == "#/components/schemas/EngineStatus"
    launch = paths["/api/engines"]["post"]["requestBody"]["content"]["application/json"]
    assert launch["schema"]["$ref"] == "#/components/schemas/LaunchBody"
    engines = default_server.control("GET", "/api/engines").json()
    assert [EngineStatus.model_validate(e).name for e in engines] == [DEFAULT_MODEL]
    assert PoolStatus.model_validate(default_server.control("GET", "/api/pool").json())
