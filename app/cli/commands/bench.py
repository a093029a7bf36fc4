"""`hostbench bench`: load tests (bench_load), stored runs (`list`, `show`, `diff`:
bench_runs), and `bench overhead`: the gateway's added latency, and our launch's decode
speed against llama-cpp-python's server with its defaults, measured in one run."""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from app.background import BackgroundServer, BackgroundServerError
from app.cli.bench_progress import StepsProgress
from app.cli.context import CliContext
from app.cli.output import note
from app.cli.progress import ByteProgress
from bench.errors import BenchUnavailableError, BenchUsageError
from bench.gateway_cpu import ProcessCpu, cpu_lines, cpu_table, gateway_cpu, process_cpu
from bench.overhead import (
    Overhead,
    StepProgress,
    alternate,
    compare_servers,
    overhead_table,
    speed_table,
    summary_lines,
)
from bench.report import describe_machine
from bench.tcp_relay import relay_process
from catalog import LocalModel, LocalModels, load_catalog, read_gguf_info, resolve_model
from control.channel import engine_headers
from engines.process import free_port
from errors import ExitCode
from hardware import discover
from serving.runner import run_event_loop

PROMPT = "Write a detailed story about a lighthouse keeper and a storm."


@dataclass(frozen=True)
class Plan:
    model: str
    requests: int
    max_tokens: int
    concurrency: int
    launch_options: tuple[str, ...] = ()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hostbench bench", description="Benchmarks (results on stdout as Markdown)."
    )
    sub = parser.add_subparsers(dest="which", required=True)
    overhead = sub.add_parser("overhead", help="gateway overhead and decode speed vs baseline")
    overhead.add_argument("--model", default="smollm2-135m-instruct")
    overhead.add_argument("--requests", type=int, default=50, help="requests per path")
    overhead.add_argument("--max-tokens", type=int, default=128, help="tokens per answer")
    overhead.add_argument(
        "--concurrency",
        type=int,
        default=4,
        help="streams in flight for the aggregate-throughput comparison",
    )
    overhead.add_argument(
        "--launch-option",
        action="append",
        default=[],
        metavar="FLAG",
        help="a `hostbench launch` flag for our server, repeatable (e.g. --launch-option=--poll=0)",
    )
    return parser


def launch_flags(values: Sequence[object]) -> tuple[str, ...]:
    """`hostbench launch` flags such as --poll=0, checked here rather than by the child
    launch after the baseline started (argparse hands `--launch-option=--` over as [])."""
    for value in values:
        if not isinstance(value, str) or not value.startswith("--") or len(value) < 3:
            shown = "--" if value == [] else value
            raise BenchUsageError(
                f"--launch-option {shown!r} is not a flag; e.g. --launch-option=--poll=0"
            )
    return tuple(str(value) for value in values)


def request_body(name: str, model: LocalModel, max_tokens: int) -> dict[str, Any]:
    """A fixed prompt; the end-of-turn token is banned so every answer has max_tokens."""
    eos = read_gguf_info(model.path).eos_token_id
    body: dict[str, Any] = {
        "model": name,
        "max_tokens": max_tokens,
        "temperature": 0,
        "messages": [{"role": "user", "content": PROMPT}],
    }
    if eos is not None:
        body["logit_bias"] = {str(eos): -100}
    return body


def start_baseline(
    model: LocalModel,
    port: int,
    log: Path,
    extra_args: Sequence[str] = (),
    timeout_s: float = 120.0,
) -> subprocess.Popen[bytes]:
    """`python -m llama_cpp.server` as its users start it: model and port only, plus
    `extra_args`; waits until it answers."""
    argv = [sys.executable, "-m", "llama_cpp.server", "--model", str(model.path)]
    argv += ["--port", str(port), *extra_args]
    with log.open("w") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"llama_cpp.server did not start; see {log}")


OVERHEAD_STEPS = 8
"""Gateway overhead; the gateway's CPU (streamed and whole answers, each direct and through
it); single-stream decode; concurrent streams on each of the two servers."""


async def measure(
    plan: Plan,
    urls: dict[str, str],
    body: dict[str, Any],
    cpu: ProcessCpu,
    progress: StepProgress,
    *,
    engine_key: Mapping[str, str],
) -> list[str]:
    """The comparisons, as Markdown lines; `engine_key` goes with the requests that reach
    the engine itself (straight, or through the bare relay)."""
    headers = {"direct": engine_key, "bare TCP relay": engine_key}
    paths = await alternate(
        {"direct": urls["direct"], "bare TCP relay": urls["relay"], "gateway": urls["gateway"]},
        body,
        plan.requests,
        progress,
        "gateway overhead (direct / bare TCP relay / gateway, alternating)",
        headers=headers,
    )
    overhead = Overhead(paths["direct"], paths["gateway"], floor=paths["bare TCP relay"])
    cpu_readings = await gateway_cpu(urls, body, plan.requests, cpu, progress, headers=headers)
    servers = {"hostbench launch": urls["gateway"], "llama_cpp.server defaults": urls["baseline"]}
    rounds = max(5, plan.requests // 5)
    speeds = await compare_servers(servers, body, rounds, plan.concurrency, progress)
    return [
        f"Machine: {describe_machine(discover())}",
        f"Model: {plan.model}; {plan.requests} requests per path, {plan.max_tokens} tokens each",
        f"Our server: `hostbench launch {' '.join([plan.model, *plan.launch_options])}`",
        "",
        "### Gateway overhead (sequential, alternating direct / bare TCP relay / gateway)",
        "",
        *overhead_table(overhead),
        "",
        *summary_lines(overhead),
        "",
        f"### The gateway's CPU ({plan.requests} requests per path and kind of answer, "
        "one at a time; each process's own CPU time)",
        "",
        *cpu_table(cpu_readings),
        "",
        *cpu_lines(cpu_readings),
        "",
        "### Decode speed: hostbench launch vs llama_cpp.server with its defaults",
        "",
        *speed_table(speeds, plan.concurrency, plan.max_tokens),
    ]


RUN_COMMANDS = ("list", "show", "diff")


def run(argv: Sequence[str]) -> int:
    """Dispatch: `overhead` here, `list|show|diff` to bench_runs, anything else is a load
    test of MODEL (bench_load)."""
    if argv and argv[0] in RUN_COMMANDS:
        from app.cli.commands import bench_runs

        return bench_runs.run(argv)
    if not argv or argv[0] != "overhead":
        from app.cli.commands import bench_load

        return bench_load.run(argv)
    return run_overhead(argv)


def wait_for(server: BackgroundServer, model: str) -> dict[str, Any]:
    try:
        return server.wait_ready()
    except BackgroundServerError as error:
        raise BenchUnavailableError(f"could not start {model}: {error}") from None


def run_overhead(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(argv)
    ctx = CliContext.from_args(args)
    flags = launch_flags(args.launch_option)
    plan = Plan(args.model, args.requests, args.max_tokens, args.concurrency, flags)
    model = resolve_model(
        plan.model,
        load_catalog(),
        LocalModels(ctx.open_store()),
        ctx.locations.models_dir,
        progress=ByteProgress("getting model"),
    )
    logs = ctx.locations.logs_dir / "bench"
    launch = [plan.model, *plan.launch_options]
    server = BackgroundServer(launch, free_port(), logs / "server.stderr")
    baseline_port = free_port()
    baseline = None
    try:
        ready = wait_for(server, plan.model)
        note(f"hostbench ready ({ready['runtime']}); starting the llama_cpp.server baseline")
        baseline = start_baseline(model, baseline_port, logs / "baseline.log")
        with relay_process(ready["port"]) as relay_url:
            urls = {
                "direct": f"http://127.0.0.1:{ready['port']}/v1",
                "relay": f"{relay_url}/v1",
                "gateway": f"{server.base_url}/v1",
                "baseline": f"http://127.0.0.1:{baseline_port}/v1",
            }
            body = request_body(ready["name"], model, plan.max_tokens)
            note(f"measuring in {OVERHEAD_STEPS} steps (Ctrl-C stops) ...")
            cpu = process_cpu(server.proc.pid, ready["pid"])
            steps = StepsProgress(OVERHEAD_STEPS)
            engine_key = engine_headers(ctx.locations.token_file)
            lines = run_event_loop(measure(plan, urls, body, cpu, steps, engine_key=engine_key))
    finally:
        server.stop()
        if baseline is not None:
            baseline.terminate()
            baseline.wait(30)
    print("\n".join(lines))
    return ExitCode.OK
