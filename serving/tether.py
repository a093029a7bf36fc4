"""A server tied to the process that started it: the workbench's background server.

The workbench starts `hostbench serve` in its own session so that it can outlive the
workbench when the user asks to keep the models running. Without a tie, a workbench that
is killed (or crashes) would leave that server, and its engines, running for nobody. With
`server.exit_with_pid` the server stops as after SIGTERM once that process is gone, unless
it was sent SIGUSR1 first (the workbench's "keep running").
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import psutil

log = logging.getLogger("hostbench.server")


def is_alive(process: psutil.Process) -> bool:
    """Running and not a zombie; the same process, not another with a reused PID."""
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


async def exit_with(
    pid: int, detached: Callable[[], bool], stop: Callable[[], None], interval_s: float = 0.5
) -> None:
    """Call `stop` once process `pid` has exited, unless `detached()` says otherwise."""
    try:
        parent: psutil.Process | None = psutil.Process(pid)
    except psutil.Error:
        parent = None
    while parent is not None and is_alive(parent):
        await asyncio.sleep(interval_s)
    if detached():
        log.info("process %d exited; this server was detached from it and keeps serving", pid)
        return
    log.warning("process %d that this server was started for exited: stopping", pid)
    stop()
