"""Stopping a hostbench server from another process (`hostbench shutdown`).

The server writes its PID to the data dir (`run/server-PORT.pid`) while it serves, so a
server the workbench left running in the background ("keep running") can be stopped by a
command: the PID file says which process, `/health` that a hostbench server answers on the
port, and the process's command line that the PID was not reused by another program.
SIGTERM then stops it as Ctrl-C would: requests in flight finish, engines stop.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import psutil

from control.client import ControlClient, ServerNotRunningError
from engines.errors import EngineError
from profiles import Locations, Settings


def pid_file(locations: Locations, port: int) -> Path:
    return locations.data_dir / "run" / f"server-{port}.pid"


def write_pid_file(locations: Locations, port: int) -> Path:
    path = pid_file(locations, port)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{os.getpid()}\n")
    return path


def remove_pid_file(path: Path) -> None:
    try:
        if path.read_text().strip() == str(os.getpid()):
            path.unlink()
    except OSError:
        pass


def stop_server(settings: Settings, locations: Locations, timeout_s: float = 60.0) -> int:
    """SIGTERM the hostbench server on the configured port and wait for it; its PID."""
    client = ControlClient(settings, locations)
    if client.probe() is None:
        raise ServerNotRunningError(f"no hostbench server at {client.base_url}")
    process = _server_process(locations, settings.server.port)
    process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while not _gone(process):
        if time.monotonic() > deadline:
            raise EngineError(
                f"the server (pid {process.pid}) is still stopping after {timeout_s:.0f} s"
            )
        time.sleep(0.1)
    return process.pid


def _gone(process: psutil.Process) -> bool:
    """Exited: a zombie counts (its parent, e.g. a workbench still open, reaps it later)."""
    try:
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _server_process(locations: Locations, port: int) -> psutil.Process:
    path = pid_file(locations, port)
    try:
        process = psutil.Process(int(path.read_text().strip()))
        command = process.cmdline()
    except (OSError, ValueError, psutil.Error):
        raise EngineError(
            f"the hostbench server on port {port} was not started under this "
            f"HOSTBENCH_HOME ({path} is missing or stale); stop it where it was started"
        ) from None
    if not {"serve", "launch"} & set(command):
        raise EngineError(f"pid {process.pid} in {path} is not a hostbench server")
    return process
