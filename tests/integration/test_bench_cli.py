"""`hostbench bench`, `compare` and `prices` as a user runs them: real subprocesses, the
bench starting its own background server for the default model."""

from __future__ import annotations

import json
import re
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


def table_figures(stdout: str) -> dict[str, tuple[str, str, str]]:
    """The A/B table's rows at concurrency 1: metric -> (A, B, B/A) as printed."""
    rows = {}
    for line in stdout.splitlines():
        cells = line.split("  ")
        cells = [c.strip() for c in cells if c.strip()]
        if len(cells) == 5 and cells[0] == "1":
            rows[cells[1]] = (cells[2], cells[3], cells[4])
    return rows


def test_ab_runs_the_same_bench_on_two_engines(session_home: Path) -> None:
    """llama.cpp (llama-server) against llama-cpp-python's own server run by the generic
    engine: both stored with the same prompts, tagged, and the table is their figures."""
    done = run_cli(
        session_home,
        "bench", "--ab", DEFAULT_MODEL, "--engines", "llama.cpp,llama-cpp-python",
        "--concurrency", "1", "--num-prompts", "3", "--input-len", "16", "--output-len", "16",
        timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "A: starting" in done.stderr and "B: starting" in done.stderr
    arms = re.findall(r"^([AB]): (\S+) = (\S+) via (\S+) .*, runs (\d+)$", done.stdout, re.M)
    assert [a[:4] for a in arms] == [
        ("A", "llama.cpp", "llama.cpp", "llama-server"),
        ("B", "llama-cpp-python", "openai-compatible", "llama_cpp.server"),
    ]
    shown = [
        json.loads(run_cli(session_home, "bench", "show", arm[4], "--json").stdout) for arm in arms
    ]
    a, b = shown
    assert a["prompts"] == b["prompts"] and a["prompts"]["num_prompts"] == 3
    assert a["prompts"]["output_len"] == 16 and a["concurrency"] == b["concurrency"] == 1
    assert a["metrics"]["completed"] == b["metrics"]["completed"] == 3
    assert a["context"]["ab"]["id"] == b["context"]["ab"]["id"]
    assert (a["context"]["ab"]["arm"], b["context"]["ab"]["arm"]) == ("A", "B")
    assert a["context"]["engine"]["runtime"] == "llama-server"
    assert b["context"]["engine"]["runtime"] == "llama_cpp.server"
    figures = table_figures(done.stdout)
    readers = {
        "out tok/s": lambda run: run["metrics"]["output_throughput"],
        "ttft p50 ms": lambda run: run["metrics"]["ttft_ms"]["p50"],
        "ttft p99 ms": lambda run: run["metrics"]["ttft_ms"]["p99"],
        "tpot p50 ms": lambda run: run["metrics"]["tpot_ms"]["p50"],
    }
    assert set(figures) == set(readers)
    for metric, read in readers.items():
        printed_a, printed_b, printed_ratio = figures[metric]
        assert printed_a == f"{read(a):,.2f}" and printed_b == f"{read(b):,.2f}", metric
        assert printed_ratio == f"{read(b) / read(a):.2f}", metric
    listed = run_cli(session_home, "bench", "list")
    ab_id = a["context"]["ab"]["id"]
    assert f"A {ab_id} (llama.cpp)" in listed.stdout
    assert f"B {ab_id} (llama-cpp-python)" in listed.stdout


def test_ab_without_two_engines_is_refused_before_anything_starts(session_home: Path) -> None:
    done = run_cli(session_home, "bench", "--ab", DEFAULT_MODEL)
    assert done.returncode == 4, done.stderr  # ExitCode.UNAVAILABLE: vLLM needs a GPU here
    assert "only llama.cpp can" in done.stderr and "vllm cannot:" in done.stderr
    assert "--engines llama.cpp,llama-cpp-python" in done.stderr and done.stdout == ""
