"""`hostbench bench`, `compare` and `prices` as a user runs them: real subprocesses, the
bench starting its own background server for the default model."""

from __future__ import annotations

import json
from pathlib import Path

from engines.process import free_port
from tests.servers import DEFAULT_MODEL, run_cli


def test_bench_then_compare_from_a_fresh_shell(session_home: Path) -> None:
    port = str(free_port())  # no server there: bench starts one in the background
    done = run_cli(
        session_home,
        "bench",
        DEFAULT_MODEL,
        "--port",
        port,
        "--concurrency",
        "1,2",
        "--num-prompts",
        "2",
        "--input-len",
        "8",
        "--output-len",
        "4",
        "--request-rate",
        "20",
        extra_env={"HOSTBENCH_COST__POWER_W": "10"},
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert "starting a hostbench server" in done.stderr
    assert "concurrency 2 [2/2]" in done.stderr  # the progress bar, on stderr
    assert done.stdout.startswith("Throughput") and "Latency (ms)" in done.stdout
    assert "power: setting cost.power_w" in done.stdout
    compared = run_cli(
        session_home,
        "compare",
        DEFAULT_MODEL,
        "--json",
        extra_env={
            "HOSTBENCH_COST__POWER_W": "10",
            "HOSTBENCH_COST__ELECTRICITY_USD_PER_KWH": "0.30",
        },
    )
    assert compared.returncode == 0, compared.stderr
    data = json.loads(compared.stdout)
    assert data["local"]["cost"]["basis"] == "electricity"
    assert data["local"]["cost"]["output"]["usd_per_mtok"] > 0
    assert data["local"]["cost"]["wh_per_mtok_output"] > 0
    assert {row["price"]["provider"] for row in data["hosted"]} >= {"openai", "anthropic"}
    assert all(row["measured"] is None for row in data["hosted"])
    table = run_cli(session_home, "compare", DEFAULT_MODEL)
    assert "not measured" in table.stdout and "bench run" in table.stdout
    listed = run_cli(session_home, "bench", "list", "--json")
    assert any(run["label"] == DEFAULT_MODEL for run in json.loads(listed.stdout))


def test_prices_from_a_fresh_shell(session_home: Path) -> None:
    done = run_cli(session_home, "prices", "--model", "llama-3.1-8b-instruct")
    assert done.returncode == 0, done.stderr
    assert "deepinfra" in done.stdout and "retrieved 2026-11-27" in done.stderr
