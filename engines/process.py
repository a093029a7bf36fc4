"""Starting engine processes whose lives are tied to ours.

On Linux each engine is started through a tiny launcher that asks the kernel to SIGKILL it
when the hostbench server dies (PR_SET_PDEATHSIG), then execs the engine. This holds even
when the server itself is killed with SIGKILL, so no engine is ever left orphaned holding
memory. The launcher replaces `preexec_fn`, which is unsafe in a process with threads.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import Path

_LAUNCHER = """\
import ctypes, os, sys
parent = int(sys.argv[1])
if sys.platform.startswith("linux"):
    ctypes.CDLL(None, use_errno=True).prctl(1, 9)  # PR_SET_PDEATHSIG, SIGKILL
    if os.getppid() != parent:
        sys.exit(70)
os.execvp(sys.argv[2], sys.argv[2:])
"""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


LOG_ROTATE_BYTES = 32 << 20
"""An engine's log past this size is moved aside (to NAME.log.1, replacing the one before)
when the engine next starts: engines append to it on every start and llama-server writes
a few lines per request, so a long-lived server's log would otherwise only grow."""


def rotate_log(log_path: Path, limit_bytes: int = LOG_ROTATE_BYTES) -> bool:
    """Move `log_path` to `log_path.1` if it is larger than `limit_bytes`; say if it was."""
    try:
        if log_path.stat().st_size <= limit_bytes:
            return False
    except FileNotFoundError:
        return False
    log_path.replace(log_path.with_name(log_path.name + ".1"))
    return True


def launcher_argv(argv: Sequence[str]) -> list[str]:
    """Wrap `argv` so the process dies with this one."""
    return [sys.executable, "-I", "-S", "-c", _LAUNCHER, str(os.getpid()), *argv]


async def spawn(
    argv: Sequence[str], log_path: Path, env: Mapping[str, str] | None = None
) -> asyncio.subprocess.Process:
    """Start `argv` in its own session with stdout and stderr appended to `log_path`.

    Must be called from the event-loop thread: the kernel's parent-death signal fires
    when the thread that forked the child exits.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        return await asyncio.create_subprocess_exec(
            *launcher_argv(argv),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )


async def terminate(process: asyncio.subprocess.Process, grace_s: float = 5.0) -> int:
    """SIGTERM to the engine's whole process group, then SIGKILL to the group after
    `grace_s`; return the engine's exit code.

    The group, not the PID: an engine that starts workers of its own (vLLM does) would
    otherwise leave them running. Whatever is left of the group once the engine has
    exited is killed too."""
    if process.returncode is None:
        signal_group(process.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.shield(process.wait()), grace_s)
        except TimeoutError:
            signal_group(process.pid, signal.SIGKILL)
    code = await process.wait()
    signal_group(process.pid, signal.SIGKILL)
    return code


def kill_group(process: asyncio.subprocess.Process) -> None:
    """SIGKILL the engine and everything it started, now (a hung engine)."""
    signal_group(process.pid, signal.SIGKILL)


def signal_group(pgid: int, sig: int) -> bool:
    """Send `sig` to process group `pgid`; False where no process of it is left."""
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def log_tail(log_path: Path, lines: int = 20, max_bytes: int = 64 << 10) -> list[str]:
    """The last `lines` lines of a log file, read from its end."""
    try:
        with log_path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - max_bytes))
            text = handle.read().decode(errors="replace")
    except OSError:
        return []
    return list(deque((line for line in text.splitlines() if line.strip()), maxlen=lines))
