"""`hostbench bench`, `compare` and `prices` as a user runs them: real subprocesses, the
bench starting its own background server for the default model."""

from __future__ import annotations

import json
import re
from pathlib import Path

from app.tui.comparing import curve_lines, load_comparisons
from bench.runs import BenchRuns
from engines.process import free_port
from profiles import Locations, Settings
from storage import Store
from tests.servers import DEFAULT_MODEL, run_cli

SMALL_SWEEP = (
    "--concurrency",
    "1,2",
    "--num-prompts",
    "2",
    "--input-len",
    "8",
    "--output-len",
    "4",
)
"""Two levels of two short requests: seconds on the default model."""


def test_bench_then_compare_from_a_fresh_shell(session_home: Path, tmp_path: Path) -> None:
    port = str(free_port())  # no server there: bench starts one in the background
    report = tmp_path / "curve.html"
    done = run_cli(
        session_home,
        "bench",
        DEFAULT_MODEL,
        "--port",
        port,
        *SMALL_SWEEP,
        "--request-rate",
        "20",
        "--slo",
        "ttft_ms=60000",
        "--report",
        str(report),
        extra_env={"HOSTBENCH_COST__POWER_W": "10"},
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert "starting a hostbench server" in done.stderr
    assert "concurrency 2 [2/2]" in done.stderr  # the progress bar, on stderr
    assert done.stdout.startswith("Throughput") and "Latency (ms)" in done.stdout
    assert "power: setting cost.power_w" in done.stdout
    assert_curve(done.stdout, report)
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


def test_vary_launches_each_value_and_the_compare_screen_draws_each_sweep(
    session_home: Path,
) -> None:
    done = run_cli(
        session_home,
        "bench",
        DEFAULT_MODEL,
        "--vary",
        "parallel=1,2",
        *SMALL_SWEEP,
        extra_env={"HOSTBENCH_COST__POWER_W": "10"},
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert "--vary: parallel=1" in done.stderr and "--vary: parallel=2" in done.stderr
    assert "parallel=1" in done.stdout and "parallel=2" in done.stdout, "the chart's legend"
    locations = Locations.from_env({"HOSTBENCH_HOME": str(session_home)})
    store = Store(locations.store_path)
    stored = BenchRuns(store).newest_series(label=DEFAULT_MODEL, kind="hostbench")
    launched = {
        name: [run.context["engine"]["options"]["parallel"] for run in runs]
        for name, runs in stored
    }
    assert launched == {"parallel=1": [1, 1], "parallel=2": [2, 2]}, "each value was launched"
    data = load_comparisons(Settings(cost={"power_w": 10.0}), locations, store, DEFAULT_MODEL)
    assert data is not None
    drawn = [(c.series, [p.concurrency for p in c.points]) for c in data.curves]
    assert drawn == [("parallel=1", [1, 2]), ("parallel=2", [1, 2])]
    assert any("parallel=1" in line and "parallel=2" in line for line in curve_lines(data))


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


def test_a_quant_ab_runs_both_files_and_prints_the_speed_of_b(tmp_path: Path) -> None:
    """The default model's Q4_1 file against a Q4_0 made from it: refused with the command
    that makes the missing one, then both benched with the same prompts on llama.cpp."""
    home = tmp_path / "home"
    assert run_cli(home, "pull", DEFAULT_MODEL).returncode == 0
    load = ("--concurrency", "1", "--num-prompts", "3", "--input-len", "16", "--output-len", "16")
    refused = run_cli(home, "bench", DEFAULT_MODEL, "--quants", "Q4_1,Q4_0", *load)
    assert refused.returncode == 4 and refused.stdout == "", refused.stderr
    assert f"hostbench quantize {DEFAULT_MODEL} --to Q4_0" in refused.stderr
    made = run_cli(home, "quantize", DEFAULT_MODEL, "--to", "Q4_0", "--allow-requantize")
    assert made.returncode == 0, made.stderr
    done = run_cli(home, "bench", DEFAULT_MODEL, "--quants", "Q4_1,Q4_0", *load, timeout=600)
    assert done.returncode == 0, done.stderr
    arms = re.findall(r"^([AB]): (\S+) = (\S+) via (\S+) .*, runs (\d+)$", done.stdout, re.M)
    assert [a[:4] for a in arms] == [
        ("A", "Q4_1", "llama.cpp", "llama-server"),
        ("B", "Q4_0", "llama.cpp", "llama-server"),
    ]
    a, b = (json.loads(run_cli(home, "bench", "show", arm[4], "--json").stdout) for arm in arms)
    assert (a["context"]["engine"]["quant"], b["context"]["engine"]["quant"]) == ("Q4_1", "Q4_0")
    assert a["prompts"] == b["prompts"] and a["metrics"]["completed"] == 3
    speed = b["metrics"]["output_throughput"] / a["metrics"]["output_throughput"]
    assert f"conc 1: Q4_0 gives {speed:.2f}x the output tok/s of Q4_1" in done.stdout
    assert "A: Q4_1: llama.cpp's figures: 5.11 bits per weight" in done.stdout


def assert_curve(stdout: str, report: Path) -> None:
    """Two levels: the chart on stdout, each level a row with its goodput and cost, and the
    report file with both points."""
    assert "TTFT p99 (p50: ·) against output tok/s" in stdout and "Pareto-optimal" in stdout
    rows = [line.split() for line in stdout.splitlines() if re.match(r"-\s+[12]\s", line)]
    assert [row[1] for row in rows] == ["1", "2"], stdout
    assert all(row[7].startswith("$") and float(row[6]) > 0 for row in rows), "goodput, $/1M"
    assert re.search(r"^cost: .*than .*gpt-5\.4 \(\$15\.00\)", stdout, re.MULTILINE)
    page = report.read_text()
    assert "<svg" in page and page.count("<tr>") == 3 and "goodput SLO: ttft_ms=60000" in page
