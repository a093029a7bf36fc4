"""Launches handed to a running server: a relative model path means the caller's file, and a
restart keeps a secret option it never shows (README "Control API"). These need engines:
the real default model, and the gateway benchmark's stand-in engine as a generic command."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.background import BackgroundServer
from engines.process import free_port
from tests.servers import (
    DEFAULT_MODEL,
    ROOT,
    ServerProcess,
    hostbench_env,
    process_environment,
    run_cli,
    wait_pid_gone,
)

SECRET = "s3cret-engine-key-never-shown"
ODD_NAME = "team/stub model?#1"
ANY_RUNTIME = {"HOSTBENCH_ENGINES__PREFER_LLAMA_SERVER": "false"}
"""What is tested is which file loads, not the runtime: llama.cpp's Python server keeps the
test independent of the native llama-server build."""
STUB_PROFILE = """name = "stub"
description = "The gateway benchmark's stand-in engine, as a generic command."
engine_name = "openai-compatible"

[engine]
command = "{python} -m devtools.stub_engine {port} {served_name}"
"""


@pytest.fixture
def own_home(session_home: Path, tmp_path: Path) -> Path:
    """A home of its own holding the default model (the store copied, the file shared)."""
    home = tmp_path / "home"
    shutil.copytree(
        session_home / "data", home / "data", ignore=shutil.ignore_patterns("logs", "run")
    )
    return home


def default_model_file(home: Path) -> Path:
    return next((home / "data" / "models").rglob("*.gguf"))


def test_a_relative_path_is_the_callers_file(own_home: Path, tmp_path: Path) -> None:
    """Two files named model.gguf: the caller's (the real model) and one next to the server
    (not a model at all). The server must load the caller's."""
    caller, server_dir = tmp_path / "caller", tmp_path / "server"
    caller.mkdir()
    server_dir.mkdir()
    os.link(default_model_file(own_home), caller / "model.gguf")
    (server_dir / "model.gguf").write_bytes(b"not a model, but the server's own file" * 100)
    env = {**hostbench_env(own_home, ANY_RUNTIME), "PYTHONPATH": str(ROOT)}
    port = free_port()
    server = BackgroundServer(
        (), port, tmp_path / "server.stderr", env, server_dir, command="serve"
    )
    try:
        server.wait_ready(60)
        done = subprocess.run(
            [sys.executable, "-m", "app", "launch", "./model.gguf", "--name", "mine",
             "--port", str(port), "--json"],
            cwd=caller, env=env, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        engines = run_cli(own_home, "ps", "--port", str(port), "--json")
        assert engines.returncode == 0, engines.stderr
        assert str(caller / "model.gguf") in engines.stdout
    finally:
        server.stop()


def engine_key(pid: int) -> str | None:
    """The key the engine process was given (its environment, as Linux shows it)."""
    return process_environment(pid).get("HOSTBENCH_ENGINE_API_KEY")


def start_stub(home: Path, name: str) -> ServerProcess:
    """The stand-in engine under `name`, with a secret option."""
    profiles = home / "config" / "profiles"
    profiles.mkdir(parents=True, exist_ok=True)
    (profiles / "stub.toml").write_text(STUB_PROFILE)
    args = (DEFAULT_MODEL, "--profile", "stub", "--name", name, "--engine-api-key", SECRET)
    server = ServerProcess(home, args=args)
    try:
        server.wait_ready(120)
    except BaseException:
        server.terminate()
        raise
    return server


@pytest.fixture
def stub_server(own_home: Path) -> Iterator[ServerProcess]:
    """Under an awkward name: `/`, a space, `?` and `#` all in it."""
    server = start_stub(own_home, ODD_NAME)
    try:
        yield server
    finally:
        server.terminate()


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="reads /proc")
def test_a_restart_keeps_the_secret_it_never_shows(stub_server: ServerProcess) -> None:
    before = stub_server.engine(ODD_NAME)
    assert before["options"]["engine_api_key"] == "**********", "shown masked"
    assert engine_key(before["pid"]) == SECRET
    done = run_cli(stub_server.home, "restart", ODD_NAME, "--port", str(stub_server.port))
    assert done.returncode == 0, done.stderr
    after = stub_server.engine(ODD_NAME)
    assert after["state"] == "ready" and after["pid"] != before["pid"]
    assert wait_pid_gone(before["pid"])
    assert engine_key(after["pid"]) == SECRET
    assert SECRET not in done.stdout + done.stderr
    listed = run_cli(stub_server.home, "ps", "--port", str(stub_server.port), "--json")
    assert SECRET not in listed.stdout and ODD_NAME in listed.stdout
    stopped = run_cli(stub_server.home, "stop", ODD_NAME, "--port", str(stub_server.port))
    assert stopped.returncode == 0, stopped.stderr
    assert wait_pid_gone(after["pid"])
