"""Workbench benchmark (a script, not a timed test):

1. cold start: `python -m app` in a pseudo-terminal, from spawn to the first painted frame
   (the tab bar's text on the terminal), with a server already running;
2. idle CPU: the workbench's own CPU time over 60 s on the Machine screen, which redraws
   from the server's telemetry at 1 Hz, as a share of one core;
3. `hostbench --help` wall time (median of 10).

Targets: first frame <= 1.0 s, idle CPU <= 5 % of one core, --help <= 0.3 s.

    HOSTBENCH_HOME=/tmp/bench-home python -m app.tui.benchmark [--seconds 60]

The home must hold the default model (`hostbench pull smollm2-135m-instruct`); the script
starts a server on a free port with it, and stops it at the end.
"""

from __future__ import annotations

import argparse
import math
import os
import pty
import select
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from app.background import BackgroundServer
from engines.process import free_port

ROOT = Path(__file__).resolve().parents[2]
FIRST_FRAME_TEXT = b"Machine"


def read_until(fd: int, needle: bytes, timeout_s: float) -> float | None:
    """Seconds until `needle` appears in what the child writes to its terminal."""
    seen = b""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout_s:
        ready, _, _ = select.select([fd], [], [], 0.05)
        if ready:
            try:
                seen += os.read(fd, 65536)
            except OSError:
                return None
            if needle in seen:
                return time.perf_counter() - started
    return None


def drain(fd: int, seconds: float) -> None:
    """Keep reading the terminal (as a real one would) for `seconds`."""
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        ready, _, _ = select.select([fd], [], [], min(left, 0.5))
        if ready:
            try:
                os.read(fd, 65536)
            except OSError:
                return


def start_workbench(port: int) -> tuple[int, int]:
    """`python -m app` on a 120x40 pseudo-terminal; (pid, terminal fd)."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: become the workbench
        os.environ.update(
            {"HOSTBENCH_SERVER__PORT": str(port), "TERM": "xterm-256color", "COLUMNS": "120"}
        )
        os.chdir(ROOT)
        os.execv(sys.executable, [sys.executable, "-m", "app"])
    import fcntl
    import struct
    import termios

    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    return pid, fd


@dataclass(frozen=True)
class Figures:
    first_frame_s: float | None
    first_frame_cpu_s: float
    """CPU time the workbench used until its first frame (less sensitive to a busy
    machine than the wall time)."""
    idle_percent: float


def measure_workbench(port: int, seconds: float) -> Figures:
    pid, fd = start_workbench(port)
    try:
        process = psutil.Process(pid)
        first = read_until(fd, FIRST_FRAME_TEXT, 30.0)
        at_first = process.cpu_times()
        drain(fd, 10.0)  # let the first poll and the other screens' warm-up import pass
        before = process.cpu_times()
        started = time.monotonic()
        drain(fd, seconds)
        after = process.cpu_times()
        wall = time.monotonic() - started
        used = (after.user + after.system) - (before.user + before.system)
        startup = at_first.user + at_first.system
        return Figures(first, startup, 100.0 * used / wall)
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(fd)


def cold_starts(port: int, runs: int) -> list[tuple[float, float]]:
    """(wall, CPU) seconds to the first frame, one fresh workbench process per run."""
    found = []
    for _ in range(runs):
        pid, fd = start_workbench(port)
        try:
            process = psutil.Process(pid)
            first = read_until(fd, FIRST_FRAME_TEXT, 30.0)
            cpu = process.cpu_times()
            if first is not None:
                found.append((first, cpu.user + cpu.system))
        finally:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            os.close(fd)
    return found


def help_times(runs: int = 10) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "app", "--help"], cwd=ROOT, check=True,
                       capture_output=True)  # fmt: skip
        times.append(time.perf_counter() - started)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="idle measurement")
    parser.add_argument("--starts", type=int, default=5, help="cold starts to time")
    args = parser.parse_args()
    home = Path(os.environ.get("HOSTBENCH_HOME", "/tmp/hostbench-bench-home"))
    port = free_port()
    server = BackgroundServer(["smollm2-135m-instruct"], port, home / "bench-server.stderr")
    try:
        server.wait_ready()
        load = os.getloadavg()
        starts = cold_starts(port, args.starts)
        figures = measure_workbench(port, args.seconds)
    finally:
        server.stop()
    helps = help_times()
    print(f"machine load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    walls = [wall for wall, _ in starts] or [math.nan]
    cpus = [cpu for _, cpu in starts] or [math.nan]
    print(
        f"first painted frame over {len(starts)} cold starts: median "
        f"{statistics.median(walls):.3f} s (min {min(walls):.3f}, max {max(walls):.3f}); "
        f"CPU until then: median {statistics.median(cpus):.3f} s"
    )
    idle = figures.idle_percent
    print(f"idle CPU over {args.seconds:.0f} s at 1 Hz refresh: {idle:.2f} % of one core")
    print(
        f"hostbench --help: median {statistics.median(helps):.3f} s "
        f"(min {min(helps):.3f}, max {max(helps):.3f}, {len(helps)} runs)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
