"""The workbench's background server (app/background.py `DetachedServer`) is tied to the
workbench: a workbench killed without asking takes the server and its engines along; one
that detaches it ("keep running") leaves it serving. A small stand-in process plays the
workbench, so it can be killed like one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from engines.process import free_port
from tests.servers import DEFAULT_MODEL, ROOT, hostbench_env, pid_alive, run_cli, wait_pid_gone

STAND_IN = """
import sys, httpx
from pathlib import Path
from app.background import DetachedServer

port, log, then = int(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]

def probe():
    try:
        return httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code
    except httpx.HTTPError:
        return None

server = DetachedServer.start(port, log)
server.wait_ready(probe, timeout_s=120)
print(server.pid, flush=True)
if then == "detach":
    server.detach()
else:
    sys.stdin.read()  # until killed
"""


@pytest.fixture
def workbench(session_home: Path, request: pytest.FixtureRequest) -> Iterator[tuple]:
    port = free_port()
    stand_in = subprocess.Popen(
        [sys.executable, "-c", STAND_IN, str(port), str(session_home / "wb.log"), request.param],
        cwd=ROOT,
        env=hostbench_env(session_home),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert stand_in.stdout is not None
    server_pid = int(stand_in.stdout.readline())
    try:
        yield stand_in, server_pid, port
    finally:
        stand_in.kill()
        stand_in.wait(10)
        if pid_alive(server_pid):
            os.kill(server_pid, signal.SIGTERM)
            wait_pid_gone(server_pid, timeout=30)


def _engine_pid(home: Path, port: int) -> int:
    token = (home / "config" / "control-token").read_text().strip()
    engines = httpx.get(
        f"http://127.0.0.1:{port}/api/engines",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    ).json()
    return int(engines[0]["pid"])


@pytest.mark.parametrize("workbench", ["stay"], indirect=True)
def test_a_killed_workbench_takes_its_server_and_engines_along(
    session_home: Path, workbench: tuple
) -> None:
    stand_in, server_pid, port = workbench
    done = run_cli(session_home, "launch", DEFAULT_MODEL, "--port", str(port), "--json")
    assert done.returncode == 0, done.stderr
    engine_pid = _engine_pid(session_home, port)
    stand_in.kill()
    stand_in.wait(10)
    assert wait_pid_gone(server_pid, timeout=20), "the background server outlived the workbench"
    assert wait_pid_gone(engine_pid, timeout=5), "its engine outlived it"


@pytest.mark.parametrize("workbench", ["detach"], indirect=True)
def test_a_detached_server_keeps_serving(workbench: tuple) -> None:
    stand_in, server_pid, port = workbench
    assert stand_in.wait(30) == 0
    assert not wait_pid_gone(server_pid, timeout=3), "the detached server stopped"
    assert httpx.get(f"http://127.0.0.1:{port}/health", timeout=10).status_code == 200
