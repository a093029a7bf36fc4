"""Engine processes: stopped as a whole group, and reaped after a server that died.

Real processes (a shell that starts a child of its own, like an engine with workers)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engines import process
from engines.runfiles import RunFiles, start_time
from tests.servers import pid_alive, wait_pid_gone

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux /proc")

WITH_WORKER = "sleep 300 & echo $! > {pidfile}; wait"
"""A shell that starts a worker and waits for it, as vLLM's API server does."""


def _read_pid(path: Path, timeout_s: float = 10) -> int:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        text = path.read_text().strip() if path.exists() else ""
        if text:
            return int(text)
        time.sleep(0.02)
    raise TimeoutError(f"{path} never written")


def test_terminate_stops_the_engine_and_what_it_started(tmp_path: Path) -> None:
    pidfile = tmp_path / "worker.pid"

    async def run() -> tuple[int, int]:
        argv = ["sh", "-c", WITH_WORKER.format(pidfile=pidfile)]
        proc = await process.spawn(argv, tmp_path / "engine.log")
        worker = await asyncio.to_thread(_read_pid, pidfile)
        code = await process.terminate(proc, grace_s=5)
        return worker, code

    worker, code = asyncio.run(run())
    assert code == -signal.SIGTERM
    assert wait_pid_gone(worker, timeout=5), "the engine's worker outlived it"


def _orphan_engine(tmp_path: Path) -> tuple[subprocess.Popen[bytes], int]:
    """An engine (with a worker) in its own session, as `process.spawn` starts them."""
    pidfile = tmp_path / "orphan-worker.pid"
    engine = subprocess.Popen(
        ["sh", "-c", WITH_WORKER.format(pidfile=pidfile)], start_new_session=True
    )
    return engine, _read_pid(pidfile)


def _dead_server() -> tuple[int, float]:
    """The PID and start time of a process that has exited (a server that died)."""
    server = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    started = start_time(server.pid)
    assert started is not None
    server.kill()
    server.wait()
    return server.pid, started


def _write(directory: Path, name: str, **entry: object) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.json"
    path.write_text(json.dumps({"argv": ["sh"], **entry}))
    return path


def test_next_server_reaps_engines_left_by_one_that_died(tmp_path: Path) -> None:
    engine, worker = _orphan_engine(tmp_path)
    server_pid, server_started = _dead_server()
    started = start_time(engine.pid)
    runs = tmp_path / "run"
    path = _write(
        runs, "x", pid=engine.pid, started_at=started,
        server_pid=server_pid, server_started_at=server_started,
    )  # fmt: skip
    try:
        assert RunFiles(runs).reap() == [engine.pid]
        engine.wait(5)
        assert wait_pid_gone(worker, timeout=5)
        assert not path.exists()
    finally:
        for pid in (engine.pid, worker):
            if pid_alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_reap_spares_a_reused_pid_and_a_live_servers_engines(tmp_path: Path) -> None:
    engine, worker = _orphan_engine(tmp_path)
    server_pid, server_started = _dead_server()
    started = start_time(engine.pid)
    assert started is not None
    runs = tmp_path / "run"
    reused = _write(
        runs, "reused", pid=engine.pid, started_at=started - 100,
        server_pid=server_pid, server_started_at=server_started,
    )  # fmt: skip
    ours = _write(
        runs, "ours", pid=engine.pid, started_at=started,
        server_pid=os.getpid(), server_started_at=start_time(os.getpid()),
    )  # fmt: skip
    try:
        assert RunFiles(runs).reap() == []
        assert pid_alive(engine.pid) and pid_alive(worker)
        assert not reused.exists(), "a stale entry is dropped"
        assert ours.exists(), "a live server's engine is left alone"
    finally:
        os.killpg(engine.pid, signal.SIGKILL)
        engine.wait(5)


def test_run_file_is_written_and_removed(tmp_path: Path) -> None:
    runs = RunFiles(tmp_path / "run")

    async def run() -> tuple[dict[str, object], bool]:
        proc = await process.spawn(["sleep", "300"], tmp_path / "engine.log")
        path = runs.write("smollm2/x", proc.pid, ("sleep", "300"))
        assert path is not None
        entry = json.loads(path.read_text())
        await process.terminate(proc)
        runs.remove(path)
        return entry, path.exists()

    entry, still_there = asyncio.run(run())
    assert entry["server_pid"] == os.getpid() and entry["argv"] == ["sleep", "300"]
    assert not still_there
