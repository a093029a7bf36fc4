"""What a new user following the README met and should not have (issue: "the README is a
contract"): each test failed before its fix."""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import pytest

from app.cli import main
from bench.comparison import compare
from bench.cost import CostInputs
from bench.loadgen import StreamSample
from bench.metrics import compute_metrics
from bench.prices import HostedOffers, load_price_table
from bench.runs import BenchRuns
from errors import ExitCode
from profiles import Locations
from storage import Store
from tests.unit.bench.test_runs import make_run

ROOT = Path(__file__).resolve().parents[2]
SHIPPED_RTX5090 = ROOT / "docs" / "machines" / "rtx5090.json"


def err_of(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


# 1. `bench show N` of an ordinary (non-A/B) run


def test_bench_show_of_an_ordinary_run(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = Store(Locations.from_env().ensure().store_path)
    run_id = BenchRuns(store).add(make_run())
    assert main(["bench", "show", str(run_id)]) == ExitCode.OK
    out = capsys.readouterr().out
    assert f"run {run_id}: llama" in out and "options: parallel=4" in out
    assert "a/b:" not in out


# 2. --machine FILE: one line and an exit code for every bad file; a shipped snapshot


def bad_machine_files(tmp_path: Path) -> dict[str, tuple[Path, int, str]]:
    not_json = tmp_path / "not.json"
    not_json.write_text("{\n")
    other = tmp_path / "other.json"
    other.write_text('{"hello": "world"}')
    listed = tmp_path / "list.json"
    listed.write_text("[1, 2]")
    recorded = ROOT / "tests" / "fixtures" / "nvml" / "one_gpu_rtx5090.json"
    return {
        "missing": (tmp_path / "missing.json", ExitCode.NOT_FOUND, "no such file"),
        "directory": (tmp_path, ExitCode.USAGE, "is a directory"),
        "not JSON": (not_json, ExitCode.USAGE, "is not JSON (line 2"),
        "another JSON": (other, ExitCode.USAGE, "no 'timestamp_s' field"),
        "a JSON list": (listed, ExitCode.USAGE, "is not a machine snapshot"),
        "an NVML recording": (recorded, ExitCode.USAGE, "recorded NVML reading"),
    }


@pytest.mark.parametrize(
    "command",
    [
        ["fit", "smollm2-135m-instruct", "--no-remote"],
        ["catalog"],
        ["export", "smollm2-135m-instruct", "--to", "compose"],
        ["profiles"],
    ],
    ids=lambda c: c[0],
)
def test_machine_file_errors_are_one_line(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    for what, (path, code, message) in bad_machine_files(tmp_path).items():
        assert main([*command, "--machine", str(path)]) == code, what
        err = err_of(capsys)
        assert message in err and err.count("\n") == 1, (what, err)


def test_the_shipped_rtx5090_snapshot_reproduces_the_readme(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["fit", "qwen3-8b", "--ctx", "32768", "--no-remote", "--machine", str(SHIPPED_RTX5090)]
    assert main(argv) == ExitCode.OK
    out = capsys.readouterr().out
    readme = (ROOT / "README.md").read_text()
    lines = [line for line in out.splitlines() if line.startswith(("qwen3-8b", "  gpu0", "  n_"))]
    assert len(lines) == 3 and all(line in readme for line in lines), lines


# 5. messages that say what happened


def test_fit_and_launch_of_a_missing_file_say_no_such_file(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["fit", "./missing.gguf"]) == ExitCode.NOT_FOUND
    assert "no such file: missing.gguf" in err_of(capsys)
    assert main(["launch", "./missing.gguf", "--dry-run"]) == ExitCode.NOT_FOUND
    err = err_of(capsys)
    assert "no such file" in err and "catalog" not in err


def test_rm_of_a_catalog_model_not_pulled(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rm", "qwen3-8b:Q4_K_M"]) == ExitCode.NOT_FOUND
    err = err_of(capsys)
    assert "is not a local model" in err and "not in the catalog" not in err
    assert "in the catalog or among local models" not in err


def test_engines_build_says_when_it_reuses_the_cache(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import os

    from engines.llamacpp import build

    plan = build.make_plan(dict(os.environ))
    if not plan.server_binary.is_file():
        pytest.skip("no cached llama.cpp build here (`make setup` makes one)")
    assert main(["engines", "build"]) == ExitCode.OK
    err = err_of(capsys)
    assert "reusing the cached build" in err and "not cached yet" not in err
    assert "reusing" in build.cache_state(plan)


def test_the_set_up_says_it_compiles_only_when_nothing_is_cached(tmp_path: Path) -> None:
    from engines.llamacpp import build

    plan = build.make_plan({"HOSTBENCH_CACHE_DIR": str(tmp_path), "HOSTBENCH_LLAMA_BACKEND": "cpu"})
    assert "not cached yet" in build.cache_state(plan)
    plan.wheel_dir.mkdir(parents=True)
    (plan.wheel_dir / "llama_cpp_python-0-py3-none-any.whl").write_bytes(b"")
    plan.server_binary.parent.mkdir(parents=True, exist_ok=True)
    plan.server_binary.write_bytes(b"")
    assert "reusing the cached build" in build.cache_state(plan)


def test_a_generic_engine_without_a_context_length_says_so(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from app.cli.commands.launch import ConsoleHook
    from serving.runner import ServerInfo

    status = {"runtime": "my-server", "pid": 42, "context_limit": 0}
    engine = SimpleNamespace(name="mine", status=lambda: status)
    ConsoleHook(as_json=False).engine_ready(ServerInfo("127.0.0.1", 8080), engine)  # type: ignore[arg-type]
    out = capsys.readouterr().out
    assert "context 0 tokens" not in out and "context set by its command" in out


class _SlowStream(BaseHTTPRequestHandler):
    """An OpenAI-shaped stream of three chunks, the client free to stop after the first."""

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for word in ("one", " two", " three"):
            chunk = {"choices": [{"index": 0, "delta": {"content": word}}]}
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.flush()
            self.server.next_chunk.wait(5)  # type: ignore[attr-defined]
        self.wfile.write(b"data: [DONE]\n\n")


@pytest.fixture
def slow_stream() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SlowStream)
    server.next_chunk = threading.Event()  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.next_chunk.set()  # type: ignore[attr-defined]
    server.shutdown()
    server.server_close()


def test_a_stopped_chat_answer_is_not_an_error(slow_stream: ThreadingHTTPServer) -> None:
    from app.tui.chat_stream import STOPPED, stream_answer
    from app.tui.screens.chat import answer_stats

    cancel = threading.Event()

    def on_progress(_answer: object) -> None:
        cancel.set()
        slow_stream.next_chunk.set()  # type: ignore[attr-defined]

    url = f"http://127.0.0.1:{slow_stream.server_address[1]}/v1"
    answer = stream_answer(url, {"model": "m", "stream": True}, on_progress, cancel=cancel)
    assert answer.error is None and answer.done and answer.text == "one"
    assert answer.finish_reason == STOPPED
    assert "error" not in answer_stats(answer) and "stopped by you" in answer_stats(answer)


# 6. exit codes of the README's table (each row: tests/unit/test_exit_codes.py)


def test_ps_and_stop_without_a_server_exit_unavailable(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from engines.process import free_port

    port = str(free_port())
    assert main(["ps", "--port", port]) == ExitCode.UNAVAILABLE
    assert main(["stop", "x", "--port", port]) == ExitCode.UNAVAILABLE
    assert main(["shutdown", "--port", port]) == ExitCode.UNAVAILABLE
    assert err_of(capsys).count("error:") == 3


def test_fit_exits_9_when_the_model_does_not_fit(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["fit", "gpt-oss-120b", "--no-remote", "--machine", str(SHIPPED_RTX5090)]
    assert main(argv) == ExitCode.DOES_NOT_FIT
    assert "does not fit" in capsys.readouterr().out
    assert main([*argv, "--json"]) == ExitCode.DOES_NOT_FIT
    assert json.loads(capsys.readouterr().out)["verdict"] == "does not fit"


# 7. the live-metrics stream is strict JSON


def test_metrics_events_are_strict_json() -> None:
    from serving.metrics_routes import strict_json

    snapshot = {"models": {"m": {"1m": {"ttft_ms": {"p50": math.nan}, "rate": math.inf}}}}
    text = strict_json(snapshot)

    def refuse(constant: str) -> None:
        raise ValueError(f"not JSON: {constant}")

    parsed = json.loads(text, parse_constant=refuse)
    assert parsed["models"]["m"]["1m"] == {"ttft_ms": {"p50": None}, "rate": None}


# 9. Compare: a run whose server sent no usage (llama-cpp-python's)


def test_compare_without_usage_counts_the_prompts_and_says_so() -> None:
    no_usage = StreamSample(True, 100.0, 500.0, 8, (50.0,) * 7, prompt_tokens=None)
    run = make_run()
    run = type(run)(
        **{
            **run.__dict__,
            "samples": (no_usage,) * 4,
            "metrics": compute_metrics((no_usage,) * 4, 2.0),
        }
    )
    assert run.metrics.total_input_tokens == 0
    result = compare(
        run, CostInputs(rental_usd_per_hour=0.5), load_price_table(), HostedOffers.load()
    )
    assert result.local.input_per_output == pytest.approx(32 / 8)
    assert result.local.cost.input.usd_per_mtok is not None
    assert any("sent no usage" in note for note in result.notes)
    counted = compare(
        make_run(), CostInputs(rental_usd_per_hour=0.5), load_price_table(), HostedOffers.load()
    )
    assert not any("sent no usage" in note for note in counted.notes)


# 8. the background server can be stopped by a command


def test_shutdown_stops_the_server_it_finds_on_the_port(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`hostbench serve` as the workbench starts it (a child process: once it exits it is a
    zombie until its parent reaps it, which must count as stopped)."""
    import time

    from tests.servers import ServerProcess

    server = ServerProcess(home, args=(), command="serve")
    try:
        server.wait_ready()
        started = time.monotonic()
        assert main(["shutdown", "--port", str(server.port), "--timeout", "30"]) == ExitCode.OK
        assert time.monotonic() - started < 25
        assert server.proc.wait(10) == 0
        assert "stopped" in capsys.readouterr().err
        assert main(["shutdown", "--port", str(server.port)]) == ExitCode.UNAVAILABLE
    finally:
        if server.proc.poll() is None:
            server.kill()


# 11. a native build says how far it is


def test_a_build_step_reports_how_far_it_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import sys

    from engines.llamacpp.build import run_logged

    script = "import time\nfor p in (10, 50):\n    print(f'[{p:3d}%] Building', flush=True)\n"
    script += "    time.sleep(0.6)\n"
    run_logged([sys.executable, "-c", script], tmp_path / "build.log", every_s=0.25)
    err = capsys.readouterr().err
    assert "building: 10 % (about" in err and "min left" in err, err
    assert "building: 50 %" in err and str(tmp_path / "build.log") in err
