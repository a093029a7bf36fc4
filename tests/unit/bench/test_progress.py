"""Long bench jobs say what they do, how far they are and how long is left, on stderr, and
stop cleanly on Ctrl-C: `bench` at several levels and `bench overhead`'s steps, against the
stub engine (devtools.stub_engine, a real OpenAI-style server on loopback)."""

from __future__ import annotations

import asyncio
import io
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.cli.bench_progress import StepsProgress, eta_text
from bench.overhead import alternate, compare_servers
from engines.process import free_port
from tests.servers import ROOT, hostbench_env

BODY = {"model": "stub", "max_tokens": 4, "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def stub() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "devtools.stub_engine", str(port), "stub"], cwd=ROOT
    )
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/models", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    yield url
    proc.terminate()
    proc.wait(10)


def test_eta_from_the_pace_so_far() -> None:
    assert eta_text(10.0, 1, 5) == ", about 40 s left"
    assert eta_text(60.0, 1, 4) == ", about 3 min left"
    assert eta_text(5.0, 0, 4) == "" and eta_text(5.0, 4, 4) == ""


def test_overhead_steps_report_every_request(stub: str) -> None:
    calls: list[tuple[str, int, int]] = []

    async def both() -> None:
        paths = {"a": stub, "b": stub, "c": stub}
        await alternate(paths, BODY, 2, lambda *c: calls.append(c), "overhead")
        await compare_servers({"x": stub, "y": stub}, BODY, 2, 2, lambda *c: calls.append(c))

    asyncio.run(both())
    steps = list(dict.fromkeys(step for step, _, _ in calls))
    assert steps == [
        "overhead",
        "single-stream decode, each server",
        "2 streams at once on x",
        "2 streams at once on y",
    ]
    assert [c for c in calls if c[0] == "overhead"] == [("overhead", i, 6) for i in range(1, 7)]
    assert calls[-1] == ("2 streams at once on y", 4, 4)


def test_steps_progress_lines_name_the_step_and_the_time_left() -> None:
    out = io.StringIO()
    progress = StepsProgress(2, out=out, quiet_interval_s=0.0)
    for done in range(1, 4):
        progress("first", done, 3)
    progress("second", 1, 1)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("[1/2] first: 1/3 requests") and "left" in lines[0]
    assert lines[-2].startswith("[1/2] first: 3/3 requests") and "left" not in lines[-2]
    assert lines[-1].startswith("[2/2] second: 1/1 requests")


def bench_cli(home: Path, url: str, *args: str) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "app", "bench", "stub", "--endpoint", url, *args]
    return subprocess.Popen(
        argv, cwd=ROOT, env=hostbench_env(home), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def test_a_sweep_reports_every_level_with_the_time_left(home: Path, stub: str) -> None:
    proc = bench_cli(
        home, stub, "--concurrency", "1,2,4", "--num-prompts", "4", "--output-len", "4"
    )
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    lines = [line for line in err.splitlines() if line.startswith("concurrency ")]
    assert lines[0].startswith("concurrency 1 [1/3] [") and " 0/4 requests" in lines[0]
    levels = [line for line in lines if " 4/4 requests" in line]
    assert [line.split("]")[0] for line in levels] == [
        "concurrency 1 [1/3",
        "concurrency 2 [2/3",
        "concurrency 4 [3/3",
    ]
    assert "all levels 4/12, about" in levels[0] and "left" in levels[0]
    assert levels[-1].endswith("all levels 12/12")


def test_ctrl_c_ends_a_sweep_cleanly(home: Path, stub: str) -> None:
    """Each answer takes ~0.4 s (200 chunks 2 ms apart): 40 of them would take 16 s."""
    proc = bench_cli(home, stub, "--num-prompts", "40", "--output-len", "200")
    time.sleep(4)
    proc.send_signal(signal.SIGINT)
    started = time.monotonic()
    _, err = proc.communicate(timeout=30)
    assert time.monotonic() - started < 15
    assert proc.returncode == 130, err
    assert "Traceback" not in err and err.rstrip().splitlines()[-1].startswith("interrupted")


def test_a_cancelled_load_ends_its_requests_before_its_session(stub: str) -> None:
    """Ctrl-C cancels `run_load` itself (asyncio.run's SIGINT handling): every request task
    ends with it, so none goes on into the closed session and prints a traceback at exit
    (seen once in CI: RuntimeError 'Session is closed' from a request's retry)."""
    from bench.load import Target, run_load
    from bench.prompts import approximate_prompts

    prompts = approximate_prompts(8, input_len=16, output_len=200).prompts
    target = Target(base_url=stub, model="stub")

    async def cancel_mid_load() -> set[asyncio.Task[object]]:
        load = asyncio.create_task(run_load(target, prompts, concurrency=4))
        await asyncio.sleep(0.5)  # requests in flight (each answer takes ~0.4 s)
        load.cancel()
        with pytest.raises(asyncio.CancelledError):
            await load
        return {t for t in asyncio.all_tasks() if t is not asyncio.current_task()}

    assert asyncio.run(cancel_mid_load()) == set()
