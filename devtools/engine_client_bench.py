"""The gateway's HTTP client to its engines (engines.http_client) against aiohttp's, as the
gateway used before: time to the first chunk of a streamed answer and the client's CPU per
request, alternating request by request against devtools.stub_engine, on uvloop as the
server runs. Markdown on stdout.

    python -m devtools.engine_client_bench [--requests 600] [--max-tokens 4]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable

import aiohttp
import uvloop

from bench.report import describe_machine
from engines.http_client import EngineClient
from engines.process import free_port
from hardware import discover

Ask = Callable[[], Awaitable[float]]


def body(max_tokens: int) -> bytes:
    message = {"role": "user", "content": "hi"}
    ask = {"model": "stub", "messages": [message], "stream": True, "max_tokens": max_tokens}
    return json.dumps(ask).encode()


def with_aiohttp(session: aiohttp.ClientSession, url: str, sent: bytes) -> Ask:
    headers = {"Content-Type": "application/json"}

    async def ask() -> float:
        began = time.perf_counter()
        response = await session.post(url, data=sent, headers=headers)
        chunks = response.content.iter_any()
        await anext(chunks)
        first = time.perf_counter() - began
        async for _ in chunks:
            pass
        response.release()
        return first

    return ask


def with_engine_client(client: EngineClient, url: str, sent: bytes) -> Ask:
    async def ask() -> float:
        began = time.perf_counter()
        response = await client.open(url, sent)
        await response.chunk()
        first = time.perf_counter() - began
        await response.read()
        response.release()
        return first

    return ask


async def compare(url: str, requests: int, max_tokens: int) -> dict[str, tuple[float, float]]:
    """Per client: (median time to the first chunk, CPU per request), in seconds."""
    sent = body(max_tokens)
    client = EngineClient()
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=3.0), auto_decompress=False
    ) as session:
        asks = {
            "aiohttp": with_aiohttp(session, url, sent),
            "engines.http_client": with_engine_client(client, url, sent),
        }
        firsts: dict[str, list[float]] = {name: [] for name in asks}
        cpu = dict.fromkeys(asks, 0.0)
        try:
            for round_ in range(requests):
                for name in sorted(asks, reverse=round_ % 2 == 1):
                    before = time.process_time()
                    firsts[name].append(await asks[name]())
                    cpu[name] += time.process_time() - before
        finally:
            await client.close()
    warm = requests // 20
    return {n: (statistics.median(firsts[n][warm:]), cpu[n] / requests) for n in asks}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=600)
    parser.add_argument("--max-tokens", type=int, default=4)
    args = parser.parse_args(argv)
    port = free_port()
    stub = subprocess.Popen(
        [sys.executable, "-m", "devtools.stub_engine", str(port), "stub"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}/v1/chat/completions"
        uvloop.run(_wait_for(port))
        results = uvloop.run(compare(url, args.requests, args.max_tokens))
    finally:
        stub.kill()
        stub.wait()
    print(f"Machine: {describe_machine(discover())}")
    print(f"\n{args.requests} streamed requests per client, {args.max_tokens} tokens each\n")
    print("| client | first chunk p50 | client CPU per request |\n|---|---|---|")
    for name, (first, cpu) in results.items():
        print(f"| {name} | {first * 1e6:.0f} µs | {cpu * 1e6:.0f} µs |")
    return 0


async def _wait_for(port: int) -> None:
    for _ in range(200):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        return
    raise SystemExit("the stub engine did not start")


if __name__ == "__main__":
    sys.exit(main())
