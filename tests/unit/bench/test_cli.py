"""`hostbench bench | compare | prices | tune` through app.cli.main, without a model: bad flags,
empty stores, the price table, and a bench of an OpenAI-compatible endpoint on loopback."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.cli import main
from app.cli.commands.bench_load import build_parser, check_endpoint, check_vary
from bench.errors import BenchUsageError
from bench.runs import BenchRuns
from errors import ExitCode
from profiles import Locations
from storage import Store
from tests.unit.bench.test_load import Scripted, serve
from tests.unit.bench.test_runs import make_run


@pytest.fixture
def endpoint() -> Iterator[str]:
    """The scripted SSE chat endpoint, on its own event loop in a thread."""
    loop = asyncio.new_event_loop()
    ready: list[str] = []
    started, stop = threading.Event(), asyncio.Event()

    async def run() -> None:
        async for url in serve(Scripted()):
            ready.append(url)
            started.set()
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(run(),), daemon=True)
    thread.start()
    assert started.wait(30)
    yield ready[0]
    loop.call_soon_threadsafe(stop.set)
    thread.join(30)


@pytest.mark.parametrize(
    "argv",
    [
        ["bench", "--slo", "ttft=5"],
        ["bench", "--concurrency", "0"],
        ["bench", "--concurrency", "a,b"],
        ["bench", "--request-rate", "0"],
        ["bench", "--output-len", "0"],
        ["bench", "--vary", "paralel=2,4"],
        ["bench", "--vary", "parallel=0,4"],
        ["bench", "--vary", "parallel"],
        ["bench", "--vary", "parallel=2", "--endpoint", "http://127.0.0.1:9/v1"],
    ],
)
def test_bad_bench_flags_fail_before_anything_starts(
    home: Path, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, "one line"


def test_a_vary_value_refused_by_a_rule_says_the_rule(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["bench", "--vary", "ubatch_size=4096"]) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert "ubatch_size=4096 is refused by llama.cpp: ubatch_size must not exceed" in err
    assert "Value error" not in err


def test_empty_store(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "list"]) == ExitCode.OK
    assert main(["bench", "show", "7"]) == ExitCode.NOT_FOUND
    assert main(["compare"]) == ExitCode.NOT_FOUND
    err = capsys.readouterr().err
    assert "no bench run 7" in err and "hostbench bench" in err


def test_prices_show_search_and_update(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["prices", "--search", "claude-haiku-4-5", "--json"]) == ExitCode.OK
    shown = json.loads(capsys.readouterr().out)
    assert shown["retrieved"] == "2026-11-27" and shown["prices"]
    source = tmp_path / "mine.json"
    row = {"provider": "acme", "input_usd_per_mtok": 0.1, "output_usd_per_mtok": 0.2}
    table = {"source": "my contract", "retrieved": "2026-12-01", "units": "USD per 1M tokens"}
    source.write_text(json.dumps({**table, "models": {"acme-1": row}}))
    assert main(["prices", "update", "--from", str(source)]) == ExitCode.OK
    assert (Locations.from_env().data_dir / "hosted_prices.json").exists()
    capsys.readouterr()
    assert main(["prices"]) == ExitCode.OK
    out, err = capsys.readouterr()
    assert "acme-1" in out and "my contract" in err
    source.write_text("{not json")
    assert main(["prices", "update", "--from", str(source)]) == ExitCode.USAGE


def test_bench_an_endpoint_stores_the_run_but_never_the_key(
    home: Path, endpoint: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MY_KEY", "sk-secret-value-123")
    argv = [
        "bench",
        "some-model",
        "--endpoint",
        endpoint,
        "--api-key-env",
        "MY_KEY",
        "--concurrency",
        "1,2",
        "--num-prompts",
        "3",
        "--input-len",
        "5",
        "--json",
    ]
    assert main(argv) == ExitCode.OK
    out, err = capsys.readouterr()
    runs = json.loads(out)
    assert [r["concurrency"] for r in runs] == [1, 2]
    assert runs[0]["metrics"]["completed"] == 3 and runs[0]["metrics"]["total_output_tokens"] == 9
    assert runs[0]["target"]["authenticated"] is True
    assert "approximate" in err
    store_bytes = b"".join(p.read_bytes() for p in (home / "data").glob("hostbench.sqlite*"))
    assert b"sk-secret-value-123" not in store_bytes
    assert main(["bench", "show", str(runs[1]["id"])]) == ExitCode.OK
    assert "ttft ms" in capsys.readouterr().out
    assert main(["bench", "diff", str(runs[0]["id"]), str(runs[1]["id"])]) == ExitCode.OK
    assert "concurrency: 1 -> 2" in capsys.readouterr().out


def test_bench_without_the_key_variable_is_a_usage_error(home: Path, endpoint: str) -> None:
    argv = ["bench", "m", "--endpoint", endpoint, "--api-key-env", "NOT_SET_ANYWHERE"]
    assert main(argv) == ExitCode.USAGE


def test_compare_prints_every_figure_with_its_source(
    home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    Locations.from_env().ensure()
    BenchRuns(Store(Locations.from_env().store_path)).add(make_run(4, "g"))
    monkeypatch.setenv("HOSTBENCH_COST__RENTAL_USD_PER_HOUR", "0.5")
    assert main(["compare", "llama"]) == ExitCode.OK
    out = capsys.readouterr().out
    assert "rental $0.50/h" in out
    assert "not measured" in out and "price table, retrieved 2026-11-27" in out
    assert "together_ai" in out and "/day" in out
    assert main(["compare", "llama", "--concurrency", "4", "--json"]) == ExitCode.OK
    data = json.loads(capsys.readouterr().out)
    assert data["local"]["concurrency"] == 4
    assert data["local"]["cost"]["basis"] == "rental"
    assert main(["compare", "llama", "--concurrency", "3"]) == ExitCode.NOT_FOUND


def test_a_launch_profile_cost_overrides_the_config(
    home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    locations = Locations.from_env().ensure()
    BenchRuns(Store(locations.store_path)).add(make_run(4, "g"))
    monkeypatch.setenv("HOSTBENCH_COST__RENTAL_USD_PER_HOUR", "0.5")
    profiles = locations.config_dir / "profiles"
    profiles.mkdir(parents=True)
    (profiles / "rented.toml").write_text(
        'name = "rented"\nextends = "auto"\n\n[cost]\nrental_usd_per_hour = 2.0\n'
    )
    assert main(["compare", "llama", "--json"]) == ExitCode.OK
    assert (
        json.loads(capsys.readouterr().out)["local"]["cost"]["inputs"]["rental_usd_per_hour"] == 0.5
    )
    assert main(["compare", "llama", "--profile", "rented", "--json"]) == ExitCode.OK
    inputs = json.loads(capsys.readouterr().out)["local"]["cost"]["inputs"]
    assert inputs["rental_usd_per_hour"] == 2.0
    assert main(["compare", "llama", "--profile", "nope"]) == ExitCode.NOT_FOUND


def test_two_levels_draw_the_curve_and_write_the_report(
    home: Path, endpoint: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "out" / "curve.html"
    argv = ["bench", "m", "--endpoint", endpoint, "--concurrency", "1,2", "--num-prompts", "3"]
    assert main([*argv, "--slo", "ttft_ms=60000", "--report", str(report)]) == ExitCode.OK
    out, err = capsys.readouterr()
    assert "TTFT p99 (p50: ·) against output tok/s" in out and "TPOT p50" in out
    assert "Pareto-optimal" in out and "GOODPUT REQ/S" in out
    page = report.read_text()
    assert page.count("<svg") == 1 and "<circle" in page and "goodput SLO: ttft_ms=60000" in page
    assert f"report written to {report}" in err
    svg = tmp_path / "curve.svg"
    assert main([*argv, "--report", str(svg), "--json"]) == ExitCode.OK
    assert svg.read_text().startswith("<svg") and "TTFT" not in capsys.readouterr().out


def test_an_endpoint_is_an_http_url_with_a_host() -> None:
    """Checked before any request: an empty or scheme-less one failed only at the warm-up."""
    for good in ("http://127.0.0.1:8000/v1", "https://api.openai.com/v1", "http://[::1]:8/v1"):
        check_endpoint(good)
    for bad in ("", "localhost:8000/v1", "ftp://host/v1", "http:///v1", "127.0.0.1:8000"):
        with pytest.raises(BenchUsageError, match="give an http\\(s\\) base URL"):
            check_endpoint(bad)


def test_an_empty_vary_is_refused_and_vary_takes_no_ab() -> None:
    """`--vary=` was once taken as absent, and a plain bench of the default model ran."""
    parser = build_parser()
    assert check_vary(parser.parse_args([])) is None
    with pytest.raises(BenchUsageError, match="needs NAME=V1,V2"):
        check_vary(parser.parse_args(["--vary="]))
    for other in (["--endpoint="], ["--quants=Q4_1,Q4_0"], ["--draft-model=m"]):
        with pytest.raises(BenchUsageError, match="does not take --endpoint or --ab"):
            check_vary(parser.parse_args(["--vary=parallel=1,2", *other]))


def test_empty_lists_of_settings_or_flags_are_refused_before_anything_starts(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`tune --settings=` once tuned every setting; `bench overhead --launch-option=` failed
    in the child launch, after the baseline server had started."""
    assert main(["tune", "--settings= , "]) == ExitCode.USAGE
    assert "--settings ' , ': name at least one of parallel, threads" in capsys.readouterr().err
    for bad in ("", "poll=0", "--"):  # argparse hands the last one over as []
        assert main(["bench", "overhead", f"--launch-option={bad}"]) == ExitCode.USAGE
        assert f"--launch-option {bad!r} is not a flag" in capsys.readouterr().err
