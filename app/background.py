"""A hostbench server in a child process: `hostbench launch|serve ... --json`.

Used where a front end needs a server it does not run itself: the benchmark (so the load
generator and the gateway do not share one interpreter), tests, and the workbench, which
starts a detached `serve` when none is running.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from control.api import EngineStatus


class BackgroundServerError(RuntimeError):
    """The child server exited or did not become ready; the message has its stderr tail."""


class BackgroundServer:
    """Start with `hostbench launch ARGS --json` (or `serve`); ready once it prints its
    JSON line: the model is ready, or (for `serve`) the server listens."""

    def __init__(
        self,
        args: Sequence[str],
        port: int,
        stderr_path: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        *,
        command: str = "launch",
    ) -> None:
        self.port = port
        self.ready_event = "listening" if command == "serve" else "ready"
        self.stderr_path = stderr_path
        stderr_path.parent.mkdir(parents=True, exist_ok=True)
        self._stderr = stderr_path.open("w")
        argv = [sys.executable, "-m", "app", command, *args, "--port", str(port), "--json"]
        self.proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read_stdout, daemon=True).start()
        self.ready: dict[str, Any] = {}

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stderr_tail(self, chars: int = 4000) -> str:
        return self.stderr_path.read_text(errors="replace")[-chars:]

    def wait_ready(self, timeout_s: float = 180) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._lines.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                code = self.proc.wait()
                raise BackgroundServerError(f"server exited {code}:\n{self.stderr_tail()}")
            event = json.loads(line)
            if event.get("event") == self.ready_event:
                self.ready = event
                return event
        raise BackgroundServerError(f"server not ready after {timeout_s:.0f} s")

    def wait_engine(self, timeout_s: float = 180) -> EngineStatus:
        """`wait_ready` for `launch`: the ready line carries the engine's status."""
        return EngineStatus.model_validate(self.wait_ready(timeout_s))

    def stop(self, timeout_s: float = 60) -> int:
        """SIGTERM and wait (the server drains, then stops its engines)."""
        try:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
            return self.proc.wait(timeout_s)
        finally:
            self._stderr.close()

    def kill(self) -> int:
        self.proc.kill()
        try:
            return self.proc.wait(30)
        finally:
            self._stderr.close()


class DetachedServer:
    """`hostbench serve` in its own session, so it can outlive the front end that started
    it (the workbench asks on quit whether to keep the models running).

    It is tied to this process all the same (`server.exit_with_pid`): should the front end
    die without asking, killed or crashed, the server stops with its engines. `detach()`
    (the answer "keep running") cuts the tie.

    Readiness is the server answering /health, judged by the caller's `probe`; its stderr
    goes to a log file the error message points at.
    """

    def __init__(self, proc: subprocess.Popen[bytes], log_path: Path) -> None:
        self.proc = proc
        self.log_path = log_path

    @classmethod
    def start(
        cls,
        port: int,
        log_path: Path,
        env: Mapping[str, str] | None = None,
        host: str | None = None,
    ) -> DetachedServer:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "app", "serve", "--port", str(port)]
        command += ["--host", host] if host else []
        with log_path.open("ab") as log_file:
            tie = {"HOSTBENCH_SERVER__EXIT_WITH_PID": str(os.getpid())}
            proc = subprocess.Popen(
                command,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **tie, **(env or {})},
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log_file,
                start_new_session=True,
                cwd=Path(__file__).resolve().parents[1],
            )
        return cls(proc, log_path)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def wait_ready(self, probe: Callable[[], object | None], timeout_s: float = 30.0) -> None:
        """Poll `probe` until it answers; raise with the log's tail if the child died."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if probe() is not None:
                return
            if self.proc.poll() is not None:
                raise BackgroundServerError(
                    f"hostbench serve exited {self.proc.returncode}:\n{self.log_tail()}"
                )
            time.sleep(0.1)
        raise BackgroundServerError(f"hostbench serve not ready after {timeout_s:.0f} s")

    def detach(self) -> None:
        """Let the server outlive this process (SIGUSR1; where there is none, the server
        was never tied)."""
        if self.proc.poll() is None and hasattr(signal, "SIGUSR1"):
            self.proc.send_signal(signal.SIGUSR1)

    def stop(self, timeout_s: float = 30.0) -> int | None:
        """SIGTERM (the server drains, then stops its engines) and wait; None if it lingers."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            return None
