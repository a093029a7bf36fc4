"""What waking a sleeping model costs: first request to first token for the default model
launched with `--idle-ttl`, asleep against awake, alternating. Markdown on stdout.

    python -m devtools.wake_bench [--rounds 5] [--idle-ttl 1]

Each round waits until the model sleeps (no process; `/v1/models` says `sleeping`), sends
one streamed chat request and times its first token from the client's side (the wake-up:
the engine started again and loaded, then the prompt), then sends the same request to the
now awake model for the floor. Uses the models in HOSTBENCH_HOME.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

from app.background import BackgroundServer
from app.cli.commands.launch import DEFAULT_MODEL
from bench.report import describe_machine
from engines.process import free_port
from hardware import discover

BODY = {
    "model": DEFAULT_MODEL,
    "max_tokens": 4,
    "stream": True,
    "messages": [{"role": "user", "content": "Say hello."}],
}


def first_token_s(url: str) -> float:
    """Seconds from sending a streamed chat request to its first content chunk."""
    started = time.perf_counter()
    with httpx.stream("POST", url + "/chat/completions", json=BODY, timeout=300) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            choices = json.loads(line[6:]).get("choices") or []
            if choices and choices[0].get("delta", {}).get("content"):
                return time.perf_counter() - started
    raise RuntimeError("the stream ended without a token")


def wait_asleep(url: str, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        models = httpx.get(url + "/models", timeout=30).json()["data"]
        if any(m["id"] == DEFAULT_MODEL and m["state"] == "sleeping" for m in models):
            return
        time.sleep(0.1)
    raise TimeoutError(f"{DEFAULT_MODEL} never fell asleep")


def measure(rounds: int, idle_ttl: float, logs: Path) -> tuple[list[float], list[float]]:
    launch = [DEFAULT_MODEL, "--idle-ttl", f"{idle_ttl:g}"]
    server = BackgroundServer(launch, free_port(), logs / "wake-server.stderr")
    asleep, awake = [], []
    try:
        server.wait_ready()
        url = server.base_url + "/v1"
        for _ in range(rounds):
            wait_asleep(url)
            asleep.append(first_token_s(url))
            awake.append(first_token_s(url))
    finally:
        server.stop()
    return asleep, awake


def row(label: str, values: Sequence[float]) -> str:
    ms = sorted(v * 1000 for v in values)
    runs = ", ".join(f"{v:.0f}" for v in ms)
    return f"| {label} | {statistics.median(ms):.0f} | {ms[0]:.0f} | {ms[-1]:.0f} | {runs} |"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.wake_bench")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--idle-ttl", type=float, default=1.0)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as logs:
        asleep, awake = measure(args.rounds, args.idle_ttl, Path(logs))
    print(f"Machine: {describe_machine(discover())}; {DEFAULT_MODEL}, {args.rounds} rounds\n")
    print("| first token | median ms | min | max | each round, ms |")
    print("|---|---|---|---|---|")
    print(row("asleep (wake-up)", asleep))
    print(row("awake", awake))
    return 0


if __name__ == "__main__":
    sys.exit(main())
