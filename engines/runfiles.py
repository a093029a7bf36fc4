"""A file per running engine, so the next server can stop engines an earlier one left.

The kernel's parent-death signal takes an engine along when its server dies, but not
always what the engine started itself, and not where there is no such signal (macOS).
Each engine therefore has a run file in the data directory with its PID and the PID's
start time (a PID is reused; a PID with the same start time is the same process), and
its server's. A server starting up stops the engines whose server is gone: their whole
process group, as `process.terminate` does.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunFile:
    """What identifies one engine process and the server that started it."""

    pid: int
    started_at: float
    server_pid: int
    server_started_at: float
    argv: tuple[str, ...]


def start_time(pid: int) -> float | None:
    """When `pid` started, as psutil reports it; None if there is no such process."""
    try:
        return psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def is_same_process(pid: int, started_at: float) -> bool:
    found = start_time(pid)
    return found is not None and abs(found - started_at) < 0.01


class RunFiles:
    """The run files of one data directory (`<data>/run/engines/NAME-<server pid>.json`)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, name: str) -> Path:
        return self.directory / f"{name.replace('/', '_')}-{os.getpid()}.json"

    def write(self, name: str, pid: int, argv: tuple[str, ...]) -> Path | None:
        """Record a just-started engine; None (logged) if it is already gone."""
        started, server_started = start_time(pid), start_time(os.getpid())
        if started is None or server_started is None:
            return None
        entry = RunFile(pid, started, os.getpid(), server_started, argv)
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.path(name)
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(asdict(entry)))
        temporary.replace(path)
        return path

    def remove(self, path: Path | None) -> None:
        if path is not None:
            path.unlink(missing_ok=True)

    def reap(self) -> list[int]:
        """Kill the engines of servers that are gone; return their PIDs."""
        reaped = []
        for path in sorted(self.directory.glob("*.json")):
            entry = _read(path)
            if entry is None:
                path.unlink(missing_ok=True)
                continue
            if is_same_process(entry.server_pid, entry.server_started_at):
                continue  # another server is running: its engines are its own
            killed = _kill_group(entry)
            if killed:
                log.warning("stopped %d engine process(es) left by a server that died", killed)
                reaped.append(entry.pid)
            path.unlink(missing_ok=True)
        return reaped


def _kill_group(entry: RunFile) -> int:
    """Kill what is left of the engine's process group (it leads its own session, so the
    group id is its PID). A live process with the engine's PID but another start time
    means the PID was reused, and then the engine's group is empty: the kernel does not
    hand out a PID while a process group of that number exists."""
    leader = start_time(entry.pid)
    if leader is not None and abs(leader - entry.started_at) >= 0.01:
        return 0
    killed = 0
    for proc in psutil.process_iter():
        with contextlib.suppress(OSError, psutil.Error):
            if os.getpgid(proc.pid) == entry.pid:
                proc.kill()
                killed += 1
    return killed


def _read(path: Path) -> RunFile | None:
    try:
        raw = json.loads(path.read_text())
        return RunFile(
            int(raw["pid"]),
            float(raw["started_at"]),
            int(raw["server_pid"]),
            float(raw["server_started_at"]),
            tuple(map(str, raw.get("argv", ()))),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
