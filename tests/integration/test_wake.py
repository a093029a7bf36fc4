"""Models that start, sleep and wake without errors, with a real server and the default
model: a request sent while a launch is under way waits for it; a model launched with
`--idle-ttl` sleeps when idle, stays listed and wakes for its next request."""

from __future__ import annotations

import json
import os
import re
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.servers import DEFAULT_MODEL, ServerProcess, run_cli

pytestmark = pytest.mark.integration

BODY = {"max_tokens": 4, "messages": [{"role": "user", "content": "Hi"}]}


@pytest.fixture(scope="module")
def server(session_home: Path) -> Iterator[ServerProcess]:
    """A server with nothing launched and nothing offered on demand."""
    process = ServerProcess(session_home, args=(), command="serve")
    try:
        process.wait_ready()
        yield process
    finally:
        process.terminate()


def chat(server: ServerProcess, model: str, timeout: float = 240) -> httpx.Response:
    url = server.openai_url + "/chat/completions"
    return httpx.post(url, json={"model": model, **BODY}, timeout=timeout)


def engines(server: ServerProcess) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in server.control("GET", "/api/engines").json()}


class Launch(threading.Thread):
    """A control-API launch running beside the test; `wait_started` returns once the
    server has it (the pool lists the name as loading)."""

    def __init__(self, server: ServerProcess, body: dict[str, Any]) -> None:
        super().__init__(daemon=True)
        self.server, self.body = server, body
        self.reply: httpx.Response | None = None

    def run(self) -> None:
        self.reply = self.server.control("POST", "/api/engines", json=self.body)

    def wait_started(self, name: str) -> None:
        self.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if name in self.server.control("GET", "/api/pool").json()["loading"]:
                return
            assert self.is_alive(), f"the launch ended before it was seen: {self.reply}"
            time.sleep(0.01)
        raise TimeoutError(f"{name} never showed as loading")

    def finish(self) -> dict[str, Any]:
        self.join(240)
        assert self.reply is not None and self.reply.status_code == 201, self.reply
        return dict(self.reply.json())

    def stop(self, name: str) -> None:
        self.finish()
        assert self.server.control("DELETE", f"/api/engines/{name}").status_code == 200


def test_request_during_launch_waits_and_is_answered(server: ServerProcess) -> None:
    launch = Launch(server, {"model": DEFAULT_MODEL, "name": "early"})
    launch.wait_started("early")
    answer = chat(server, "early")
    assert answer.status_code == 200, answer.text
    launch.stop("early")


def test_a_request_just_before_its_launch_waits_for_it(server: ServerProcess) -> None:
    """What a script does: its first request, then `hostbench launch MODEL &` a moment
    later (the CLI's start-up): the request waits for the launch instead of a 404."""
    answers: list[httpx.Response] = []
    early = threading.Thread(target=lambda: answers.append(chat(server, DEFAULT_MODEL)))
    early.start()
    time.sleep(0.5)  # the request is in before the launch is
    assert not answers, "answered before any launch"
    launched = run_cli(server.home, "launch", DEFAULT_MODEL, "--port", str(server.port))
    assert launched.returncode == 0, launched.stderr
    early.join(240)
    assert answers and answers[0].status_code == 200, answers
    assert server.control("DELETE", f"/api/engines/{DEFAULT_MODEL}").status_code == 200


def test_a_catalog_model_no_launch_brings_is_a_404_that_says_so(server: ServerProcess) -> None:
    answer = chat(server, DEFAULT_MODEL)
    assert answer.status_code == 404, answer.text
    error = answer.json()["error"]
    assert error["code"] == "model_not_found"
    assert "no launch of it reached the server in 5 s" in error["message"]


def test_unknown_model_is_refused_at_once_during_a_launch(server: ServerProcess) -> None:
    launch = Launch(server, {"model": DEFAULT_MODEL, "name": "other"})
    launch.wait_started("other")
    answer = chat(server, "nobody-launches-this")
    assert answer.status_code == 404, answer.text
    assert answer.json()["error"]["code"] == "model_not_found"
    launch.stop("other")


def test_client_leaving_during_the_wait_ends_it(server: ServerProcess) -> None:
    launch = Launch(server, {"model": DEFAULT_MODEL, "name": "leaver"})
    launch.wait_started("leaver")
    with pytest.raises(httpx.ReadTimeout):
        chat(server, "leaver", timeout=0.2)
    ready_at = launch.finish()["ready_at"]
    rows = server.control("GET", "/api/requests", params={"model": "leaver"}).json()
    (row,) = rows
    assert (row["status"], row["http_status"]) == ("cancelled", 499), row
    assert "while its model was starting" in row["error"]
    ended_at = row["started_at"] + row["e2e_ms"] / 1000
    assert ended_at < ready_at, "the wait ended when the client left, not when the model came"
    launch.stop("leaver")


def test_idle_ttl_sleeps_stays_listed_and_wakes(server: ServerProcess) -> None:
    port = str(server.port)
    done = run_cli(server.home, "launch", DEFAULT_MODEL, "--name", "sleepy", "--idle-ttl", "1",
                   "--port", port, "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["idle_ttl_s"] == 1
    asleep = wait_state(server, "sleepy", "sleeping")
    assert asleep["pid"] is None
    listed = httpx.get(server.openai_url + "/models", timeout=30).json()["data"]
    assert ("sleepy", "sleeping") in {(m["id"], m["state"]) for m in listed}
    ps = run_cli(server.home, "ps", "--port", port, "--json")
    assert ps.returncode == 0, ps.stderr
    assert "sleeping" in ps.stdout
    metrics = httpx.get(server.base_url + "/metrics", timeout=30).text
    assert 'hostbench_engine_state{model="sleepy",state="sleeping"} 1.0' in metrics
    assert 'hostbench_engine_state{model="sleepy",state="ready"} 0.0' in metrics
    answer = chat(server, "sleepy")
    assert answer.status_code == 200, answer.text
    events = [h["event"] for h in server.control("GET", "/api/pool").json()["history"]]
    assert events[-2:] == ["asleep", "woken"]
    wait_state(server, "sleepy", "sleeping")  # and sleeps again once idle
    restarted = run_cli(server.home, "restart", "sleepy", "--port", port)
    assert restarted.returncode == 0, restarted.stderr
    assert re.search(r"restarted sleepy \(pid \d+\)", restarted.stdout + restarted.stderr)
    assert server.control("DELETE", "/api/engines/sleepy").status_code == 200
    assert "sleepy" not in engines(server)


def test_a_model_stopped_while_it_is_put_to_sleep_stays_stopped(server: ServerProcess) -> None:
    """SIGSTOP holds the engine in its put-to-sleep (SIGTERM waits out the stop's grace),
    so the user's stop lands while the pool is still putting it to sleep."""
    body = {"model": DEFAULT_MODEL, "name": "drowsy", "idle_ttl_s": 1}
    launched = server.control("POST", "/api/engines", json=body)
    assert launched.status_code == 201, launched.text
    os.kill(launched.json()["pid"], signal.SIGSTOP)
    wait_state(server, "drowsy", "stopping")
    names = [e["name"] for e in server.control("GET", "/api/engines").json()]
    assert names.count("drowsy") == 1, "listed once while it is put to sleep"
    assert server.control("DELETE", "/api/engines/drowsy").status_code == 200
    assert "drowsy" not in engines(server), "the stop is not undone by the sleep"
    listed = httpx.get(server.openai_url + "/models", timeout=30).json()["data"]
    assert "drowsy" not in {m["id"] for m in listed}


def wait_state(server: ServerProcess, name: str, state: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        engine = engines(server).get(name)
        if engine is not None and engine["state"] == state:
            return engine
        time.sleep(0.1)
    raise TimeoutError(f"{name} never reached {state}: {engines(server).get(name)}")
