"""`hostbench bench overhead`: the gateway's added latency, and our launch's decode speed
against llama-cpp-python's server with its defaults, measured in one run."""

from __future__ import annotations

import argparse
import asyncio
import platform
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from app.background import BackgroundServer
from app.cli.context import CliContext
from app.cli.exit_codes import ExitCode
from app.cli.output import note
from app.cli.progress import ByteProgress
from bench.overhead import Overhead, aggregate_throughput, alternate, overhead_table, summary_lines
from catalog import LocalModel, LocalModels, load_catalog, read_gguf_info, resolve_model
from engines.process import free_port

PROMPT = "Write a detailed story about a lighthouse keeper and a storm."


@dataclass(frozen=True)
class Plan:
    model: str
    requests: int
    max_tokens: int
    concurrency: int


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
    return parser


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


def start_baseline(model: LocalModel, port: int, log: Path) -> subprocess.Popen[bytes]:
    """`python -m llama_cpp.server` exactly as its users start it: model and port only."""
    with log.open("w") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "llama_cpp.server",
                "--model",
                str(model.path),
                "--port",
                str(port),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"llama_cpp.server did not start; see {log}")


def machine_line() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    import os

    import psutil

    return (
        f"{cpu}, {psutil.cpu_count(logical=False)} physical / {os.cpu_count()} logical "
        f"cores, {psutil.virtual_memory().total / 2**30:.0f} GiB RAM, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}"
    )


async def measure(plan: Plan, urls: dict[str, str], body: dict[str, Any]) -> list[str]:
    out = [
        f"Machine: {machine_line()}",
        f"Model: {plan.model}; {plan.requests} requests per path, {plan.max_tokens} tokens each",
        "",
        "### Gateway overhead (sequential, alternating direct/gateway)",
        "",
    ]
    paths = await alternate(
        {"direct": urls["direct"], "gateway": urls["gateway"]}, body, plan.requests
    )
    result = Overhead(paths["direct"], paths["gateway"])
    out += [*overhead_table(result), "", *summary_lines(result)]
    out += [
        "",
        "### Decode speed: hostbench launch vs llama_cpp.server defaults",
        "",
        "| server | decode tok/s, 1 stream | aggregate tok/s, "
        f"{plan.concurrency} streams | complete answers at {plan.concurrency} |",
        "|---|---|---|---|",
    ]
    rounds = max(5, plan.requests // 5)
    singles = await alternate(
        {"hostbench": urls["gateway"], "baseline": urls["baseline"]}, body, rounds
    )
    for name in ("hostbench", "baseline"):
        total, samples = await aggregate_throughput(
            urls[name if name == "baseline" else "gateway"],
            body,
            plan.concurrency * 2,
            plan.concurrency,
        )
        complete = sum(1 for s in samples if s.ok and s.output_tokens == plan.max_tokens)
        out.append(
            f"| {name} | {singles[name].decode_tokens_per_s():.1f} | {total:.1f} "
            f"| {complete}/{len(samples)} |"
        )
    return out


def run(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(argv)
    ctx = CliContext.from_args(args)
    plan = Plan(args.model, args.requests, args.max_tokens, args.concurrency)
    model = resolve_model(
        plan.model,
        load_catalog(),
        LocalModels(ctx.open_store()),
        ctx.locations.models_dir,
        progress=ByteProgress("getting model"),
    )
    logs = ctx.locations.logs_dir / "bench"
    server = BackgroundServer([plan.model], free_port(), logs / "server.stderr")
    baseline_port = free_port()
    baseline = None
    try:
        ready = server.wait_ready()
        note(f"hostbench ready ({ready['runtime']}); starting the llama_cpp.server baseline")
        baseline = start_baseline(model, baseline_port, logs / "baseline.log")
        urls = {
            "direct": f"http://127.0.0.1:{ready['port']}/v1",
            "gateway": f"{server.base_url}/v1",
            "baseline": f"http://127.0.0.1:{baseline_port}/v1",
        }
        note("measuring ...")
        lines = asyncio.run(
            measure(plan, urls, request_body(ready["name"], model, plan.max_tokens))
        )
    finally:
        server.stop()
        if baseline is not None:
            baseline.terminate()
            baseline.wait(30)
    print("\n".join(lines))
    return ExitCode.OK
