"""Process lifecycle: crashes, restarts, shutdown, and no orphan engine, ever."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from pathlib import Path

import httpx
import openai
import pytest

from tests.servers import (
    DEFAULT_MODEL,
    ServerProcess,
    pid_alive,
    process_environment,
    run_cli,
    wait_pid_gone,
)

SLOW_RESTART = {"HOSTBENCH_ENGINES__RESTART_BACKOFF_S": "3"}
"""A restart backoff long enough to observe the 'crashed' state from a test."""


def test_engine_killed_mid_stream(session_home: Path) -> None:
    server = ServerProcess(session_home, env=SLOW_RESTART)
    try:
        server.wait_ready()
        engine_pid = server.engine()["pid"]
        client = openai.OpenAI(base_url=server.openai_url, api_key="-", max_retries=0)
        stream = client.chat.completions.create(
            model=DEFAULT_MODEL,
            max_tokens=2000,
            stream=True,
            logit_bias={"2": -100},
            messages=[{"role": "user", "content": "Write a very long story."}],
        )
        next(iter(stream))
        os.kill(engine_pid, signal.SIGKILL)
        started = time.monotonic()
        with pytest.raises(openai.APIError) as caught:
            for _ in stream:
                pass
        assert time.monotonic() - started < 5
        assert "stopped while handling this request" in caught.value.message

        crashed = server.wait_engine_state("crashed")
        assert crashed["last_exit_code"] == -signal.SIGKILL
        refused = httpx.post(
            server.openai_url + "/chat/completions",
            timeout=30,
            json={"model": DEFAULT_MODEL, "messages": [{"role": "user", "content": "hi"}]},
        )
        assert refused.status_code == 503 and int(refused.headers["Retry-After"]) >= 1
        assert refused.json()["error"]["code"] == "engine_unavailable"

        server.wait_engine_state("ready", timeout=120)
        answer = client.chat.completions.create(
            model=DEFAULT_MODEL, max_tokens=4, messages=[{"role": "user", "content": "hi"}]
        )
        assert answer.choices[0].message.content is not None
        assert server.engine()["restarts"] == 1 and server.engine()["pid"] != engine_pid

        statuses = [r["status"] for r in server.control("GET", "/api/requests").json()]
        assert "engine_error" in statuses and "unavailable" in statuses
        events = [e["kind"] for e in server.control("GET", "/api/events").json()]
        assert events[:3] == ["ready", "started", "crashed"]
    finally:
        server.terminate()


def test_sigterm_stops_everything(session_home: Path) -> None:
    server = ServerProcess(session_home, args=(DEFAULT_MODEL, "--omp-spin-count", "250000"))
    server.wait_ready()
    engine = server.engine()
    engine_pid = engine["pid"]
    assert pid_alive(engine_pid)
    assert engine["options"]["omp_spin_count"] == 250000
    if Path(f"/proc/{engine_pid}/environ").exists():  # where libgomp reads it from
        assert process_environment(engine_pid)["GOMP_SPINCOUNT"] == "250000"
    assert server.terminate() == 0
    assert wait_pid_gone(engine_pid), "the engine outlived the server"
    assert "engines stopped" in server.stderr()


def test_sigkill_of_the_server_takes_the_engine_along(session_home: Path) -> None:
    server = ServerProcess(session_home)
    server.wait_ready()
    engine_pid = server.engine()["pid"]
    server.kill()
    assert wait_pid_gone(engine_pid), "an orphan engine survived SIGKILL of the server"


def test_port_in_use_is_one_clear_line(session_home: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_cli(session_home, "launch", DEFAULT_MODEL, "--port", str(port), timeout=60)
    assert done.returncode == 4
    assert done.stderr.strip() == f"error: port {port} on 127.0.0.1 is already in use"


def test_non_loopback_needs_an_api_key(session_home: Path) -> None:
    done = run_cli(session_home, "serve", "--host", "0.0.0.0", "--port", "8", timeout=60)
    assert done.returncode == 2
    assert "without an API key" in done.stderr


def test_api_key_is_enforced_when_set(session_home: Path) -> None:
    server = ServerProcess(session_home, env={"HOSTBENCH_SERVER__API_KEY": "sekret"})
    try:
        server.wait_ready()
        url = server.openai_url + "/models"
        assert httpx.get(url, timeout=10).status_code == 401
        ok = httpx.get(url, headers={"Authorization": "Bearer sekret"}, timeout=10)
        assert ok.status_code == 200
        chat = {
            "model": DEFAULT_MODEL,
            "max_tokens": 2,
            "messages": [{"role": "user", "content": "Hi"}],
        }
        refused = httpx.post(server.openai_url + "/chat/completions", json=chat, timeout=10)
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "invalid_api_key"
        client = openai.OpenAI(base_url=server.openai_url, api_key="sekret", max_retries=0)
        answer = client.chat.completions.create(**chat)
        assert answer.usage is not None and answer.usage.completion_tokens > 0
    finally:
        server.terminate()


def test_launch_into_a_running_server(session_home: Path) -> None:
    server = ServerProcess(session_home)
    try:
        server.wait_ready()
        done = run_cli(
            session_home,
            "launch",
            DEFAULT_MODEL,
            "--name",
            "second",
            "--ctx-size",
            "1024",
            "--port",
            str(server.port),
            "--json",
        )
        assert done.returncode == 0, done.stderr
        listed = run_cli(session_home, "ps", "--port", str(server.port), "--json")
        names = {e["name"] for e in json.loads(listed.stdout)}
        assert names == {DEFAULT_MODEL, "second"}
        assert server.engine("second")["context_limit"] == 1024
        stopped = run_cli(session_home, "stop", "second", "--port", str(server.port))
        assert stopped.returncode == 0 and "stopped second" in stopped.stderr
    finally:
        server.terminate()


def test_sigterm_lets_a_running_stream_finish(session_home: Path) -> None:
    patient = {"HOSTBENCH_SERVER__GRACEFUL_SHUTDOWN_S": "300"}  # a loaded CI machine is slow
    server = ServerProcess(session_home, env=patient)
    server.wait_ready()
    client = openai.OpenAI(base_url=server.openai_url, api_key="-", max_retries=0)
    stream = client.chat.completions.create(
        model=DEFAULT_MODEL,
        max_tokens=48,
        stream=True,
        logit_bias={"2": -100},
        stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "Describe the sea."}],
    )
    chunks = [next(iter(stream))]
    server.proc.send_signal(signal.SIGTERM)
    chunks += list(stream)
    usage = [c.usage for c in chunks if c.usage]
    assert usage and usage[-1].completion_tokens == 48
    assert server.terminate() == 0
    with pytest.raises(httpx.ConnectError):
        httpx.get(server.base_url + "/health", timeout=5)


def test_launch_failure_shows_the_engine_log(session_home: Path) -> None:
    done = run_cli(
        session_home,
        "launch",
        DEFAULT_MODEL,
        "--port",
        "0",
        extra_env={"HOSTBENCH_ENGINES__READY_TIMEOUT_S": "0.001"},
    )
    assert done.returncode == 7, done.stderr
    assert "was not ready after" in done.stderr
    assert "last lines of the engine log" in done.stderr
