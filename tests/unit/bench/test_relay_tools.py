"""The measuring scripts of docs/benchmarks.md's gateway sections run
as documented (tiny sizes: what they print, not how fast)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[3]


def run(*argv: str) -> str:
    command = [sys.executable, "-m", *argv]
    done = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_relay_steps_prints_a_cost_for_every_step() -> None:
    rows = run("devtools.relay_steps", "--events", "200").splitlines()[2:]
    assert len(rows) == 7 and all(float(row.split("|")[2]) > 0 for row in rows), rows


def test_asgi_stacks_measures_uvicorn_relaying_the_stub() -> None:
    found = json.loads(run("devtools.asgi_stacks", "--requests", "2", "--max-tokens", "8",
                           "--rounds", "2"))  # fmt: skip
    assert found["cpu_us_per_relayed_token"]["uvicorn (uvloop, httptools)"] >= 0


def test_engine_client_bench_compares_both_clients_on_the_stub() -> None:
    lines = run("devtools.engine_client_bench", "--requests", "20").splitlines()
    rows = {line.split("|")[1].strip(): line.split("|")[2:4] for line in lines[-2:]}
    assert set(rows) == {"aiohttp", "engines.http_client"}, lines
    for first, cpu in rows.values():
        assert float(first.split()[0]) > 0 and float(cpu.split()[0]) > 0, lines
