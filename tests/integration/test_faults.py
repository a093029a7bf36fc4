"""The fault suite: engines killed and stopped mid-answer, clients that leave, a locked
store, and more clients than the engine has room for. Real servers, the real default model.

CI-sized by default; `HOSTBENCH_FAULTS_LONG=1` runs the long version whose figures are in
docs/reliability.md (the command is there).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from profiles import Locations
from profiles.settings import PoolSettings
from tests.servers import DEFAULT_MODEL, ServerProcess, wait_pid_gone

LONG = os.environ.get("HOSTBENCH_FAULTS_LONG") == "1"
pytestmark = pytest.mark.timeout(1800 if LONG else 300)
KILL_ROUNDS = 20 if LONG else 3
CONCURRENT = 500 if LONG else 120
"""The crowd, at least; more where the engine's slots and queue admit as many."""
QUEUE_PER_SLOT = PoolSettings().queue_per_slot
HANG_TIMEOUT_S = 3.0

FAULT_ENV = {
    "HOSTBENCH_ENGINES__HANG_TIMEOUT_S": str(HANG_TIMEOUT_S),
    "HOSTBENCH_ENGINES__HEALTH_INTERVAL_S": "0.5",
}
LONG_ANSWER_TOKENS = 2000
LONG_ANSWER = {
    "model": DEFAULT_MODEL,
    "max_tokens": LONG_ANSWER_TOKENS,
    "logit_bias": {"2": -100},  # no end-of-text: it goes on until stopped
    "messages": [{"role": "user", "content": "Write a very long story."}],
}


@pytest.fixture(scope="module")
def fault_server(session_home: Path) -> Iterator[ServerProcess]:
    server = ServerProcess(session_home, env=FAULT_ENV)
    try:
        server.wait_ready()
        yield server
    finally:
        server.terminate()


@dataclass
class StreamOutcome:
    started: threading.Event
    status: int = 0
    error: dict[str, Any] | None = None
    done: bool = False
    ended_at: float = 0.0


def _stream(server: ServerProcess, outcome: StreamOutcome) -> None:
    """One streamed answer, noting when it ended and how (an error event, or [DONE])."""
    try:
        with httpx.stream(
            "POST", server.openai_url + "/chat/completions",
            json={**LONG_ANSWER, "stream": True}, timeout=120,
        ) as response:  # fmt: skip
            outcome.status = response.status_code
            if response.status_code != 200:
                outcome.error = json.loads(response.read()).get("error")
                return
            for line in response.iter_lines():
                if not line.startswith("data:"):
                    continue
                outcome.started.set()
                data = line.removeprefix("data:").strip()
                if data == "[DONE]":
                    outcome.done = True
                elif "error" in (payload := json.loads(data)):
                    outcome.error = payload["error"]
    finally:
        outcome.ended_at = time.monotonic()
        outcome.started.set()


def _streams_running(server: ServerProcess, count: int) -> list[tuple[StreamOutcome, Any]]:
    running = []
    for _ in range(count):
        outcome = StreamOutcome(started=threading.Event())
        thread = threading.Thread(target=_stream, args=(server, outcome), daemon=True)
        thread.start()
        running.append((outcome, thread))
    for outcome, _ in running:
        assert outcome.started.wait(120), "a stream never started"
    return running


def _answers(server: ServerProcess) -> bool:
    body = {**LONG_ANSWER, "max_tokens": 2}
    try:
        answer = httpx.post(server.openai_url + "/chat/completions", json=body, timeout=30)
    except httpx.HTTPError:
        return False
    return answer.status_code == 200


def _wait_answers(server: ServerProcess, timeout_s: float) -> float:
    """Seconds until the model answers again."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if _answers(server):
            return time.monotonic() - started
        time.sleep(0.1)
    raise TimeoutError(f"the model did not answer again within {timeout_s} s")


def test_engine_sigkill_mid_stream_every_client_hears_and_it_serves_again(
    fault_server: ServerProcess,
) -> None:
    """SIGKILL the engine while it streams to as many clients as it has slots."""
    recoveries, error_delays = [], []
    for _ in range(KILL_ROUNDS):
        pid = fault_server.wait_engine_state("ready", timeout=60)["pid"]
        running = _streams_running(fault_server, 4)
        killed_at = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        for outcome, thread in running:
            thread.join(30)
            assert not thread.is_alive(), "a client hung after the engine died"
            assert outcome.error is not None and not outcome.done
            assert outcome.error["code"] == "engine_crashed" and outcome.error["message"]
            error_delays.append(outcome.ended_at - killed_at)
        recoveries.append(_wait_answers(fault_server, 60))
    assert max(error_delays) < 5, error_delays
    gaps = _restart_gaps(fault_server)[-KILL_ROUNDS:]
    assert max(gaps) < 2.5, f"restarts waited {gaps} s"
    # serving again = the backoff (1 s) + loading the model: about 2 s on an idle 2-core
    # machine, many times that on a busy one, so the bound here is generous
    assert max(recoveries) < 45, f"serving again took {recoveries} s"
    print(
        f"\nSIGKILL x{KILL_ROUNDS} ({len(error_delays)} streams): errors after <= "
        f"{max(error_delays):.2f} s, restarted after <= {max(gaps):.2f} s, serving again "
        f"after {min(recoveries):.1f} to {max(recoveries):.1f} s"
    )


def test_engine_sigstop_is_detected_killed_and_restarted(fault_server: ServerProcess) -> None:
    """A stopped engine answers nothing, not even its health check: every client gets an
    error within the hang timeout (plus a probe), and the engine is replaced."""
    pid = fault_server.wait_engine_state("ready", timeout=60)["pid"]
    _wait_answers(fault_server, 30)  # the backoff starts afresh
    running = _streams_running(fault_server, 2)
    unary: list[httpx.Response] = []
    waiting = threading.Thread(
        target=lambda: unary.append(
            httpx.post(fault_server.openai_url + "/chat/completions", json=LONG_ANSWER, timeout=60)
        ),
        daemon=True,
    )
    waiting.start()
    time.sleep(0.5)  # the non-streamed request reaches the engine
    stopped_at = time.monotonic()
    os.kill(pid, signal.SIGSTOP)
    try:
        for outcome, thread in running:
            thread.join(60)
            assert outcome.error is not None and outcome.error["code"] == "engine_unresponsive"
            assert outcome.ended_at - stopped_at < HANG_TIMEOUT_S + 5
        waiting.join(60)
        assert unary and unary[0].status_code == 502
        error = unary[0].json()["error"]
        assert error["code"] == "engine_unresponsive" and "stopped responding" in error["message"]
        assert int(unary[0].headers["Retry-After"]) >= 1
        assert wait_pid_gone(pid, timeout=10), "the hung engine was not killed"
        recovered = _wait_answers(fault_server, 30)
    finally:
        if psutil.pid_exists(pid):
            os.kill(pid, signal.SIGKILL)
    engine = fault_server.engine()
    assert engine["pid"] != pid and engine["state"] == "ready"
    events = [e["kind"] for e in fault_server.control("GET", "/api/events").json()]
    assert "hung" in events
    errors_after = max(o.ended_at for o, _ in running) - stopped_at
    print(f"\nSIGSTOP: errors after {errors_after:.1f} s, serving again {recovered:.1f} s later")


def test_server_sigkill_leaves_no_engine_and_the_next_start_tidies_up(
    session_home: Path,
) -> None:
    """SIGKILL a real `hostbench launch`: the kernel takes its engine along; the run file
    it had no chance to remove is dropped by the next server (which would kill the
    engine's group had anything of it survived), and a live server's engines are spared."""
    server = ServerProcess(session_home)
    server.wait_ready()
    pid = server.engine()["pid"]
    runs = Locations.from_env({"HOSTBENCH_HOME": str(session_home)}).data_dir / "run" / "engines"
    (run_file,) = [p for p in runs.glob("*.json") if json.loads(p.read_text())["pid"] == pid]
    killed_at = time.monotonic()
    server.kill()
    assert wait_pid_gone(pid, timeout=5), "an engine outlived its server by 5 s"
    gone_after = time.monotonic() - killed_at
    assert run_file.exists()
    others = [p for p in runs.glob("*.json") if p != run_file]
    following = ServerProcess(session_home)
    try:
        following.wait_ready()
        assert not run_file.exists()
        assert all(p.exists() for p in others), "a live server's run file was dropped"
    finally:
        following.terminate()
    print(f"\nserver SIGKILL: its engine gone after {gone_after:.2f} s")


def _requests_processing(engine_port: int, key: dict[str, str]) -> float:
    url = f"http://127.0.0.1:{engine_port}/metrics"
    metrics = httpx.get(url, headers=key, timeout=10).text
    for line in metrics.splitlines():
        if line.startswith("llamacpp:requests_processing"):
            return float(line.split()[-1])
    raise AssertionError("llama-server published no requests_processing")


def _tokens_per_second(server: ServerProcess) -> float:
    """The engine's generation speed now, under whatever else this machine is doing."""
    body = {**LONG_ANSWER, "max_tokens": 48}
    started = time.monotonic()
    answer = httpx.post(server.openai_url + "/chat/completions", json=body, timeout=60)
    return answer.json()["usage"]["completion_tokens"] / (time.monotonic() - started)


def test_client_leaving_a_whole_answer_frees_the_engine_slot(fault_server: ServerProcess) -> None:
    """A non-streamed answer is asked of llama-server as a stream (serving/
    assemble.py), so the client leaving closes that stream and llama-server stops at its
    next token. The bound is relative to the engine's own speed, measured in the same test
    (a shared machine's load slows both alike): the slot is free long before the answer
    would have ended. The figures (0.03 to 0.08 s here, against 1.2 to 3.8 s asked whole)
    are in docs/reliability.md."""
    engine = fault_server.wait_engine_state("ready", timeout=60)
    port = engine["port"]
    would_end_s = LONG_ANSWER_TOKENS / _tokens_per_second(fault_server)
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(fault_server.openai_url + "/chat/completions", json=LONG_ANSWER, timeout=1.5)
    left_at = time.monotonic()
    key = fault_server.engine_key
    while _requests_processing(port, key) > 0 and time.monotonic() - left_at < would_end_s:
        time.sleep(0.02)
    freed = time.monotonic() - left_at
    assert freed < would_end_s / 4, f"the engine kept generating for nobody ({freed:.1f} s)"
    records = fault_server.control("GET", "/api/requests").json()
    assert records[0]["status"] == "cancelled" and records[0]["http_status"] == 499
    print(f"\nnon-streamed client left: slot free {freed:.2f} s later, answer {would_end_s:.0f} s")


def test_store_locked_by_another_process_does_not_stall_serving(
    fault_server: ServerProcess,
) -> None:
    """Engine events are written while another connection holds the store's write lock:
    the endpoint answers at once regardless."""
    pid = fault_server.wait_engine_state("ready", timeout=60)["pid"]
    store = Locations.from_env({"HOSTBENCH_HOME": str(fault_server.home)}).store_path
    lock_s = 5.0
    locker = sqlite3.connect(store, isolation_level=None)
    slowest = 0.0
    try:
        locker.execute("BEGIN IMMEDIATE")
        locked_at = time.monotonic()
        os.kill(pid, signal.SIGKILL)  # crashed, started, ready: events to write
        while time.monotonic() - locked_at < lock_s - 0.5:
            began = time.monotonic()
            assert httpx.get(fault_server.openai_url + "/models", timeout=30).status_code == 200
            slowest = max(slowest, time.monotonic() - began)
            time.sleep(0.1)
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    # waiting on the lock would take most of lock_s; the margin is for a loaded machine
    assert slowest < lock_s / 2, f"/v1/models took {slowest:.2f} s while the store was locked"
    _wait_answers(fault_server, 30)
    print(f"\nstore locked {lock_s:.0f} s: slowest /v1/models {slowest * 1000:.0f} ms")


def test_backoff_starts_afresh_once_a_restarted_engine_has_served(
    fault_server: ServerProcess,
) -> None:
    """Kills a few seconds apart, each after the engine served again: every restart waits
    the first backoff; kills before it serves anything (a crash loop) wait longer each time."""
    for _ in range(5):
        pid = fault_server.wait_engine_state("ready", timeout=60)["pid"]
        _wait_answers(fault_server, 30)
        os.kill(pid, signal.SIGKILL)
        _wait_answers(fault_server, 60)
    gaps = _restart_gaps(fault_server)[-5:]
    assert len(gaps) == 5 and max(gaps) < 2.5, f"restarts waited longer each time: {gaps}"

    waits = []
    for _ in range(3):
        pid = fault_server.wait_engine_state("ready", timeout=60)["pid"]
        os.kill(pid, signal.SIGKILL)
        fault_server.wait_engine_state("crashed", timeout=10)
        refused = httpx.post(
            fault_server.openai_url + "/chat/completions", json=LONG_ANSWER, timeout=30
        )
        assert refused.status_code == 503
        waits.append(int(refused.headers["Retry-After"]))
    assert waits == sorted(waits) and waits[-1] > waits[0], f"no backoff in a crash loop: {waits}"
    _wait_answers(fault_server, 60)


def _restart_gaps(server: ServerProcess) -> list[float]:
    """Seconds from each crash to the restart after it, oldest first (the backoff: loading
    time, which a busy machine stretches, is not in it)."""
    events = list(reversed(server.control("GET", "/api/events?limit=1000").json()))
    gaps, crashed_at = [], None
    for event in events:
        if event["kind"] == "crashed":
            crashed_at = event["at"]
        elif event["kind"] == "started" and crashed_at is not None:
            gaps.append(event["at"] - crashed_at)
            crashed_at = None
    return gaps


async def _one_small_stream(client: httpx.AsyncClient, url: str) -> dict[str, Any]:
    body = {
        "model": DEFAULT_MODEL,
        "max_tokens": 8,
        "stream": True,
        "messages": [{"role": "user", "content": "Say hi."}],
    }
    async with client.stream("POST", url, json=body) as response:
        if response.status_code != 200:
            await response.aread()
            return {
                "status": response.status_code,
                "retry_after": response.headers.get("Retry-After"),
                "error": response.json().get("error"),
            }
        events = [line async for line in response.aiter_lines() if line.startswith("data:")]
    finishes = [
        choice.get("finish_reason")
        for event in events[:-1]
        for choice in json.loads(event.removeprefix("data:"))["choices"]
    ]
    return {
        "status": 200,
        "complete": events[-1].strip() == "data: [DONE]" and any(finishes),
        "tokens": len(events) - 1,
    }


async def _crowd(url: str, count: int) -> list[dict[str, Any]]:
    limits = httpx.Limits(max_connections=count + 10, max_keepalive_connections=0)
    async with httpx.AsyncClient(timeout=300, limits=limits) as client:
        return await asyncio.gather(*(_one_small_stream(client, url) for _ in range(count)))


def _why(server: ServerProcess, failures: list[dict[str, Any]]) -> str:
    """What a failed crowd saw, with what the server and its engine logged about it."""
    events = server.control("GET", "/api/events?limit=10").json()
    lines = server.control("GET", f"/api/engines/{DEFAULT_MODEL}/log?lines=40").json()["lines"]
    log = "\n".join(lines)
    return (
        f"{len(failures)} failed; first: {json.dumps(failures[0])}\n"
        f"engine events: {json.dumps(events)}\nengine log tail:\n{log}"
        f"\nserver stderr tail:\n{server.stderr()[-3000:]}"
    )


def test_a_crowd_is_served_or_told_when_to_retry(fault_server: ServerProcess) -> None:
    """More concurrent streams than the engine's slots and queue: every admitted one is
    complete, the rest get 429 with Retry-After, and the server's memory stays bounded."""
    fault_server.wait_engine_state("ready", timeout=60)
    _wait_answers(fault_server, 30)
    slots = fault_server.engine()["options"]["parallel"]
    admitted = slots + slots * QUEUE_PER_SLOT
    crowd = max(CONCURRENT, admitted + 52)
    server = psutil.Process(fault_server.proc.pid)
    before = server.memory_info().rss
    began = time.monotonic()
    results = asyncio.run(_crowd(fault_server.openai_url + "/chat/completions", crowd))
    took = time.monotonic() - began
    grown = server.memory_info().rss - before
    served = [r for r in results if r["status"] == 200]
    refused = [r for r in results if r["status"] == 429]
    waited = [r for r in results if r["status"] == 503]  # queued past queue_timeout_s
    others = [r for r in results if r["status"] not in (200, 429, 503)]
    assert not others, _why(fault_server, others)
    assert all(r["complete"] for r in served), "a stream was truncated"
    assert refused, "nothing was refused: the queue is unbounded"
    assert all(int(r["retry_after"]) >= 1 for r in refused + waited)
    assert {r["error"]["code"] for r in refused} == {"model_queue_full"}
    assert {r["error"]["code"] for r in waited} <= {"engine_unavailable"}
    assert len(served) + len(waited) <= admitted, "more admitted than slots and queue"
    assert grown < 256 << 20, f"server memory grew {grown >> 20} MiB"
    assert fault_server.engine()["state"] == "ready"
    print(
        f"\n{crowd} concurrent streams on {slots} slots: {len(served)} served complete, "
        f"{len(refused)} refused (429), {len(waited)} waited too long (503) in {took:.1f} s; "
        f"server RSS +{grown >> 20} MiB"
    )


def test_a_slow_engine_times_out_without_a_restart(session_home: Path) -> None:
    """Past `engines.first_byte_timeout_s` the request gets 504 `engine_timeout` saying the
    engine still runs (it does: it answers health checks, so nothing is restarted)."""
    env = {"HOSTBENCH_ENGINES__FIRST_BYTE_TIMEOUT_S": "1"}
    server = ServerProcess(session_home, env=env)
    try:
        server.wait_ready()
        pid = server.engine()["pid"]
        began = time.monotonic()
        answer = httpx.post(server.openai_url + "/chat/completions", json=LONG_ANSWER, timeout=60)
        took = time.monotonic() - began
        assert answer.status_code == 504, answer.text
        error = answer.json()["error"]
        assert error["code"] == "engine_timeout" and "still running" in error["message"]
        assert took < 10
        engine = server.engine()
        assert engine["pid"] == pid and engine["restarts"] == 0 and engine["state"] == "ready"
    finally:
        server.terminate()


def test_a_stream_that_stops_mid_answer_ends_with_an_error_after_the_token_timeout(
    session_home: Path,
) -> None:
    """Past `engines.token_timeout_s` with no token, a stream that had begun ends with an
    `engine_timeout` error event (the hang watchdog is set later, so the read deadline is
    what ends it), and the engine is not restarted for it."""
    env = {"HOSTBENCH_ENGINES__TOKEN_TIMEOUT_S": "1", "HOSTBENCH_ENGINES__HANG_TIMEOUT_S": "60"}
    server = ServerProcess(session_home, env=env)
    try:
        server.wait_ready()
        pid = server.engine()["pid"]
        ((outcome, thread),) = _streams_running(server, 1)
        stopped_at = time.monotonic()
        os.kill(pid, signal.SIGSTOP)
        try:
            thread.join(60)
        finally:
            os.kill(pid, signal.SIGCONT)
        took = outcome.ended_at - stopped_at
        assert outcome.error is not None and outcome.error["code"] == "engine_timeout", outcome
        assert took < 5, f"the stream ended {took:.1f} s after the engine stopped"
        assert server.engine()["restarts"] == 0
    finally:
        server.terminate()
