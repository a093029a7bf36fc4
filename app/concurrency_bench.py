"""Concurrency on llama.cpp, measured: aggregate output tokens/s at 1, 4 and 8 concurrent
streams for `hostbench launch` (llama-server, continuous batching) against
`python -m llama_cpp.server` on the same model in one run, and our single-stream decode
against `llama-bench`'s tg rate with the same threads. Markdown on stdout.

    python -m app.concurrency_bench [--model ID] [--threads 2] [--llama-bench PATH]

The baseline is started as its users start it, plus `--interrupt_requests False`: with its
default it ends a running stream when another request arrives, so its answers would not be
complete and its "throughput" not comparable. Levels are measured one after the other,
each on both servers back to back, so both see the same machine state.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from app.background import BackgroundServer
from bench.overhead import aggregate_throughput, alternate
from bench.report import describe_machine
from catalog import LocalModel, LocalModels, load_catalog, read_gguf_info, resolve_model
from engines.process import free_port
from hardware import discover
from profiles import Locations

PROMPT = "Write a detailed story about a lighthouse keeper and a storm."
LEVELS = (1, 4, 8)


def request_body(name: str, model: LocalModel, max_tokens: int) -> dict[str, Any]:
    """Every answer runs to max_tokens: the end-of-turn token is banned."""
    body: dict[str, Any] = {
        "model": name,
        "max_tokens": max_tokens,
        "temperature": 0,
        "messages": [{"role": "user", "content": PROMPT}],
    }
    eos = read_gguf_info(model.path).eos_token_id
    if eos is not None:
        body["logit_bias"] = {str(eos): -100}
    return body


def start_baseline(model: LocalModel, port: int, log: Path) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "llama_cpp.server", "--model", str(model.path)]
    argv += ["--port", str(port), "--interrupt_requests", "False"]
    with log.open("w") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"llama_cpp.server did not start; see {log}")


def llama_bench_tg(binary: Path, model: LocalModel, threads: int, tokens: int) -> float:
    """llama-bench's generation rate (tg) for `tokens` tokens with `threads` threads."""
    argv = [str(binary), "-m", str(model.path), "-t", str(threads), "-p", "0", "-n", str(tokens)]
    done = subprocess.run([*argv, "-o", "csv"], capture_output=True, text=True, check=True)
    header, *rows = [line for line in done.stdout.splitlines() if line.strip()]
    columns = [c.strip('"') for c in header.split(",")]
    values = [v.strip('"') for v in rows[-1].split(",")]
    return float(values[columns.index("avg_ts")])


async def levels(urls: dict[str, str], body: dict[str, Any]) -> dict[str, dict[int, float]]:
    found: dict[str, dict[int, float]] = {name: {} for name in urls}
    for level in LEVELS:
        for name, url in urls.items():
            rate, samples = await aggregate_throughput(url, body, max(4, 2 * level), level)
            complete = sum(1 for s in samples if s.ok and s.output_tokens == body["max_tokens"])
            if complete < len(samples):
                print(
                    f"warning: {name} at {level}: {complete}/{len(samples)} complete",
                    file=sys.stderr,
                )
            found[name][level] = rate
    return found


def table(rates: dict[str, dict[int, float]]) -> list[str]:
    ours, base = rates["hostbench launch"], rates["llama_cpp.server"]
    rows = [
        "| streams | hostbench launch tok/s | llama_cpp.server tok/s | ratio |",
        "|---|---|---|---|",
    ]
    rows += [f"| {n} | {ours[n]:.1f} | {base[n]:.1f} | {ours[n] / base[n]:.2f}x |" for n in LEVELS]
    return rows


def measure(args: argparse.Namespace, model: LocalModel, logs: Path) -> list[str]:
    launch = [args.model, "--parallel", "8", "--threads", str(args.threads), "--ctx-size", "2048"]
    server = BackgroundServer(launch, free_port(), logs / "server.stderr")
    baseline_port, baseline = free_port(), None
    try:
        ready = server.wait_ready()
        baseline = start_baseline(model, baseline_port, logs / "baseline.log")
        body = request_body(ready["name"], model, args.max_tokens)
        urls = {
            "hostbench launch": f"{server.base_url}/v1",
            "llama_cpp.server": f"http://127.0.0.1:{baseline_port}/v1",
        }
        rates = asyncio.run(levels(urls, body))
        single = asyncio.run(alternate({"ours": urls["hostbench launch"]}, body, args.rounds))
    finally:
        server.stop()
        if baseline is not None:
            baseline.terminate()
            baseline.wait(30)
    decode = single["ours"].decode_tokens_per_s()
    lines = [
        f"Machine: {describe_machine(discover())}",
        "",
        f"Our launch: {ready['runtime']}, `{' '.join(launch)}`",
        "",
    ]
    lines += table(rates)
    if args.llama_bench is not None:
        tg = llama_bench_tg(args.llama_bench, model, args.threads, args.max_tokens)
        lines += [
            "",
            f"1-stream decode (1 / median TPOT, {args.rounds} requests): {decode:.1f} tok/s; "
            f"llama-bench tg{args.max_tokens} -t {args.threads}: {tg:.1f} tok/s; "
            f"ratio {decode / tg:.2f}",
        ]
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=10, help="single-stream requests")
    parser.add_argument("--llama-bench", type=Path, help="llama-bench binary for the tg rate")
    args = parser.parse_args(argv)
    locations = Locations.from_env().ensure()
    from bench import Store

    registry = LocalModels(Store(locations.store_path))
    model = resolve_model(args.model, load_catalog(), registry, locations.models_dir)
    print("\n".join(measure(args, model, locations.logs_dir / "concurrency-bench")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
