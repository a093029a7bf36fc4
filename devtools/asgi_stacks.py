"""Which ASGI server relays a token for the least CPU: the smallest streaming proxy (an
aiohttp client forwarding each chunk as it reads it, as the gateway does) served by uvicorn
on uvloop and httptools, and by Granian where it is installed, in front of the stub engine.

    python -m devtools.asgi_stacks [--requests 20] [--max-tokens 128] [--rounds 4]

Each server gets the same streamed requests in alternating blocks; what is compared is
the CPU time of the server's processes (Granian's workers included) per relayed token.
Granian is not a dependency: `pip install granian` into the same environment to include it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any

import aiohttp
import psutil

from bench.gateway_cpu import cpu_seconds as cpu_seconds_of
from bench.loadgen import stream_chat
from engines.process import free_port

UPSTREAM_ENV = "ASGI_STACKS_UPSTREAM"
"""Where the proxy sends its requests (set for the server processes it runs in)."""


class Proxy:
    """The ASGI app each server runs: one POST forwarded, its answer streamed back, on
    one client per server process, made on its first request."""

    def __init__(self) -> None:
        self.session: aiohttp.ClientSession | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        body = await _body(receive)
        self.session = self.session or aiohttp.ClientSession()
        headers = {"Content-Type": "application/json"}
        async with self.session.post(os.environ[UPSTREAM_ENV], data=body, headers=headers) as up:
            start = [(b"content-type", b"text/event-stream")]
            await send({"type": "http.response.start", "status": 200, "headers": start})
            async for chunk in up.content.iter_any():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


proxy = Proxy()


async def _lifespan(receive: Any, send: Any) -> None:
    while (await receive())["type"] == "lifespan.startup":
        await send({"type": "lifespan.startup.complete"})
    await send({"type": "lifespan.shutdown.complete"})


async def _body(receive: Any) -> bytes:
    body, more = b"", True
    while more:
        message = await receive()
        body, more = body + message.get("body", b""), message.get("more_body", False)
    return body


def server_commands() -> dict[str, tuple[int, list[str]]]:
    """Each server to compare: its port and command line."""
    app = "devtools.asgi_stacks:proxy"
    port = free_port()
    commands = {
        "uvicorn (uvloop, httptools)": (port, [
            sys.executable, "-m", "uvicorn", app, "--port", str(port), "--loop", "uvloop",
            "--http", "httptools", "--log-level", "warning", "--no-access-log",
        ]),
    }  # fmt: skip
    granian = shutil.which("granian", path=os.path.dirname(sys.executable))
    if granian:
        port = free_port()
        commands["granian (uvloop)"] = (port, [
            granian, "--interface", "asgi", "--port", str(port), "--loop", "uvloop",
            "--log-level", "warning", "--no-ws", app,
        ])  # fmt: skip
    return commands


def wait_listening(port: int, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port} after {timeout_s:.0f} s")


@contextmanager
def started(argv: Sequence[str], port: int, env: Mapping[str, str]) -> Iterator[psutil.Process]:
    proc = subprocess.Popen(argv, env={**os.environ, **env})
    try:
        wait_listening(port)
        yield psutil.Process(proc.pid)
    finally:
        proc.terminate()
        proc.wait(10)


def cpu_seconds(process: psutil.Process) -> float:
    """The process's CPU time and its children's (Granian's workers)."""
    family = [process, *process.children(recursive=True)]
    return sum(map(cpu_seconds_of, family))


async def streams(url: str, body: dict[str, Any], count: int) -> int:
    async with aiohttp.ClientSession() as client:
        samples = [await stream_chat(client, url, body) for _ in range(count)]
    failed = [s.error for s in samples if not s.ok]
    if failed:
        raise RuntimeError(f"{len(failed)} requests failed: {failed[0]}")
    return sum(s.output_tokens for s in samples)


def measure(
    servers: Mapping[str, tuple[str, psutil.Process]], args: argparse.Namespace
) -> dict[str, float]:
    body = {"model": "stub", "max_tokens": args.max_tokens, "messages": [{"role": "user"}]}
    for url, _ in servers.values():
        asyncio.run(streams(url, body, 2))  # connections and imports warmed
    spent = dict.fromkeys(servers, 0.0)
    tokens = dict.fromkeys(servers, 0)
    for index in range(args.rounds):
        names = list(servers) if index % 2 == 0 else list(servers)[::-1]
        for name in names:
            url, process = servers[name]
            before = cpu_seconds(process)
            tokens[name] += asyncio.run(streams(url, body, args.requests))
            spent[name] += cpu_seconds(process) - before
    return {name: round(spent[name] * 1e6 / tokens[name], 1) for name in servers}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20, help="requests per block")
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=4, help="blocks per server")
    args = parser.parse_args(argv)
    upstream = free_port()
    stub = [sys.executable, "-m", "devtools.stub_engine", str(upstream), "stub"]
    env = {UPSTREAM_ENV: f"http://127.0.0.1:{upstream}/v1/chat/completions"}
    with ExitStack() as stack:
        stack.enter_context(started(stub, upstream, {}))
        servers = {
            name: (f"http://127.0.0.1:{port}/v1", stack.enter_context(started(line, port, env)))
            for name, (port, line) in server_commands().items()
        }
        found = measure(servers, args)
    print(json.dumps({"cpu_us_per_relayed_token": found, **vars(args)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
