"""Real hostbench servers in subprocesses, for integration tests."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx

from app.background import BackgroundServer
from control.channel import engine_headers
from engines.process import free_port

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MODEL = "smollm2-135m-instruct"


def hostbench_env(home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOSTBENCH_")}
    if "HOSTBENCH_CACHE_DIR" in os.environ:
        env["HOSTBENCH_CACHE_DIR"] = os.environ["HOSTBENCH_CACHE_DIR"]
    env.update({"HOSTBENCH_HOME": str(home), "PYTHONUNBUFFERED": "1"})
    env.update(extra or {})
    return env


def run_cli(
    home: Path, *argv: str, extra_env: Mapping[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", *argv],
        cwd=ROOT,
        env=hostbench_env(home, extra_env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


class ServerProcess(BackgroundServer):
    """`hostbench launch ... --json` on a free port in a test's hostbench home."""

    def __init__(
        self,
        home: Path,
        args: Sequence[str] = (DEFAULT_MODEL,),
        env: Mapping[str, str] | None = None,
        command: str = "launch",
    ) -> None:
        port = free_port()
        stderr = home / f"server-{port}.stderr"
        super().__init__(args, port, stderr, hostbench_env(home, env), cwd=ROOT, command=command)
        self.home = home

    def stderr(self) -> str:
        return self.stderr_tail()

    @property
    def openai_url(self) -> str:
        return f"{self.base_url}/v1"

    @property
    def token_file(self) -> Path:
        return self.home / "config" / "control-token"

    @property
    def token(self) -> str:
        return self.token_file.read_text().strip()

    @property
    def engine_key(self) -> dict[str, str]:
        """What the server's engines want from a client that reaches them straight."""
        return engine_headers(self.token_file)

    def control(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}"}
        return httpx.request(method, self.base_url + path, headers=headers, timeout=300, **kwargs)

    def engine(self, name: str = DEFAULT_MODEL) -> dict[str, Any]:
        engines = {e["name"]: e for e in self.control("GET", "/api/engines").json()}
        return engines[name]

    def wait_engine_state(
        self, state: str, name: str = DEFAULT_MODEL, timeout: float = 60
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            engine = self.engine(name)
            if engine["state"] == state:
                return engine
            time.sleep(0.05)
        raise TimeoutError(f"{name} never reached {state}: {self.engine(name)}")

    def terminate(self, timeout: float = 60) -> int:
        return self.stop(timeout)


def process_environment(pid: int) -> dict[str, str]:
    """The environment a process was started with, as Linux shows it."""
    pairs = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(p.decode().split("=", 1) for p in pairs if b"=" in p)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"
    except OSError:
        return True


def wait_pid_gone(pid: int, timeout: float = 15) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.05)
    return False
