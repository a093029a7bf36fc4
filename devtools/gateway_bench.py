"""The gateway's own cost per streamed request: added time to first token, direct to the
engine against through hostbench, alternating, and the server's CPU per request. Markdown
on stdout.

    python -m devtools.gateway_bench [--requests 200] [--max-tokens 8] [--engine stub|model|both]

Three paths, alternating round by round: direct to the engine, through a bare TCP relay
(bench.tcp_relay: the least any extra process on the path adds on this machine), and through
hostbench. Two engines, one after the other in one run: `stub` (devtools.stub_engine, which streams
canned chunks at once, so the difference is hostbench's path alone) and `model` (the
default model on llama-server, where the engine and the gateway share the machine's cores).
Short answers and many rounds: the time to first token is what is compared, and paired
per-round differences cancel the machine's slow phases.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psutil

from app.background import BackgroundServer
from app.cli.commands.bench import request_body
from app.cli.commands.launch import DEFAULT_MODEL
from bench.gateway_cpu import cpu_seconds
from bench.overhead import Overhead, PathStats, alternate
from bench.report import describe_machine
from bench.tcp_relay import relay_process
from catalog import LocalModel
from control.channel import engine_headers
from devtools.concurrency_bench import local_model
from engines.process import free_port
from hardware import discover
from profiles import Locations

STUB = (
    "--engine",
    "openai-compatible",
    "--command",
    "{python} -m devtools.stub_engine {port} {served_name}",
)
"""The stand-in engine, launched like any OpenAI-compatible server."""


def measure(
    model: LocalModel, launch: Sequence[str], rounds: int, max_tokens: int, logs: Path
) -> list[str]:
    server = BackgroundServer([DEFAULT_MODEL, *launch], free_port(), logs / "gateway.stderr")
    try:
        ready = server.wait_ready()
        body = request_body(ready["name"], model, max_tokens)
        with relay_process(ready["port"]) as relay_url:
            paths = {
                "direct": f"http://127.0.0.1:{ready['port']}/v1",
                "relay": f"{relay_url}/v1",
                "gateway": f"{server.base_url}/v1",
            }
            key = engine_headers(Locations.from_env().token_file)
            headers = {"direct": key, "relay": key}
            result = asyncio.run(alternate(paths, body, rounds, headers=headers))
        cpu_ms = _server_cpu_ms(server.proc.pid, paths["gateway"], body, rounds)
    finally:
        server.stop()
    direct, relay, gateway = result["direct"], result["relay"], result["gateway"]
    return [
        f"| {ready['runtime']} | {direct.ttft()['p50']:.2f} ms "
        f"| {_paired_added(direct, relay)} | {_paired_added(direct, gateway)} "
        f"| {_paired_added(relay, gateway)} | {cpu_ms:.2f} ms |"
    ]


def _paired_added(base: PathStats, path: PathStats) -> str:
    return f"{Overhead(base, path).paired_added_ms('ttft_ms'):+.2f} ms"


def _server_cpu_ms(pid: int, url: str, body: dict[str, Any], rounds: int) -> float:
    """CPU time of the hostbench server per request, gateway requests only."""
    process = psutil.Process(pid)
    before = cpu_seconds(process)
    asyncio.run(alternate({"gateway": url}, body, rounds))
    return (cpu_seconds(process) - before) / rounds * 1000.0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200, help="rounds per path")
    parser.add_argument("--max-tokens", type=int, default=8)
    parser.add_argument("--engine", choices=["stub", "model", "both"], default="both")
    args = parser.parse_args(argv)
    model, locations = local_model(DEFAULT_MODEL)
    logs = locations.logs_dir / "bench"
    print(f"Machine: {describe_machine(discover())}\n")
    print(
        f"{args.requests} streamed requests per path, {args.max_tokens} tokens each, paths "
        "alternating; added: median of per-round differences in time to first token\n"
    )
    print(
        "| engine runtime | direct TTFT p50 | added by a bare TCP relay | added by hostbench "
        "| hostbench beyond the relay | hostbench server CPU per request |"
    )
    print("|---|---|---|---|---|---|")
    launches = {"stub": STUB, "model": ()}
    for name in ("stub", "model") if args.engine == "both" else (args.engine,):
        rows = measure(model, launches[name], args.requests, args.max_tokens, logs)
        print("\n".join(rows), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
