"""What waking up costs a process on this machine, which is most of what a relayed token
costs the gateway. CPU time as the scheduler counts it (`/proc/PID/schedstat`, in
nanoseconds; process CPU counters tick every 10 ms here) of:

1. an asyncio loop that only sleeps and wakes, at 1 ms and at 9 ms (a token's interval at
   110 tok/s, the default model's single-stream rate on the 2-core test machine);
2. the smallest streaming client (asyncio streams, no parsing), reading answers straight
   from the engine of `hostbench launch MODEL`, through a bare TCP relay (bench.tcp_relay:
   the least any extra process on the path costs) and through hostbench;
3. the relay, and the hostbench server, while each relays those answers, less its CPU
   while the same answers went straight to the engine (its background work).
Markdown on stdout; Linux.

    python -m devtools.wake_cost [--model ID] [--requests 20] [--max-tokens 64]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import psutil

from app.background import BackgroundServer
from bench.report import describe_machine
from bench.tcp_relay import relay_process
from control.channel import engine_headers
from engines.process import free_port
from hardware import discover
from profiles import Locations


def cpu_ns(pid: int | str = "self") -> int:
    """Time the scheduler ran `pid` (all its threads), in nanoseconds."""
    return sum(int(Path(task, "schedstat").read_text().split()[0]) for task in _tasks(pid))


def _tasks(pid: int | str) -> list[Path]:
    return sorted(Path(f"/proc/{pid}/task").iterdir())


def sleeping_loop_us(interval_s: float, wakes: int) -> float:
    """CPU µs per wake-up of an asyncio loop that sleeps `interval_s` between wake-ups."""

    async def sleep_and_wake() -> None:
        for _ in range(wakes):
            await asyncio.sleep(interval_s)

    before = cpu_ns()
    asyncio.run(sleep_and_wake())
    return (cpu_ns() - before) / wakes / 1000


@dataclass(frozen=True)
class Streams:
    """CPU over `tokens` streamed tokens (nanoseconds): the client's, and each watched
    process's by name."""

    tokens: int
    client_ns: int
    watched_ns: Mapping[str, int]

    def per_token_us(self, name: str, less: Streams | None = None) -> float:
        """A watched process's CPU per token, less what it used over `less` (its
        background work while the answers went elsewhere)."""
        spent = self.watched_ns[name] - (less.watched_ns[name] if less else 0)
        return spent / self.tokens / 1000


async def read_answer(url: str, body: bytes, headers: Mapping[str, str]) -> None:
    """POST `body` to `url` on a new connection and read the answer to its end, as it
    comes, looking only at its status."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    lines = [f"POST {parts.path} HTTP/1.1", f"Host: {parts.netloc}", "Connection: close"]
    lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    status = await reader.readline()
    if not status.startswith(b"HTTP/1.1 200"):
        raise SystemExit(f"{url} answered {status.decode(errors='replace').strip()!r}")
    while await reader.read(65536):
        pass
    writer.close()


def stream_block(
    url: str, body: bytes, headers: Mapping[str, str], requests: int, watched: Mapping[str, int]
) -> Streams:
    """`requests` answers one after the other, and the CPU of this process and of the
    `watched` ones (name -> PID) over them."""

    async def all_answers() -> None:
        for _ in range(requests):
            await read_answer(url, body, headers)

    client, before = cpu_ns(), {name: cpu_ns(pid) for name, pid in watched.items()}
    asyncio.run(all_answers())
    tokens = requests * json.loads(body)["max_tokens"]
    spent = {name: cpu_ns(pid) - before[name] for name, pid in watched.items()}
    return Streams(tokens, cpu_ns() - client, spent)


def table(loops: Mapping[float, float], blocks: Mapping[str, Streams]) -> list[str]:
    direct = blocks["direct"]
    rows = {
        f"an asyncio loop waking every {s * 1000:g} ms, per wake-up": us for s, us in loops.items()
    }
    for path, block in blocks.items():
        rows[f"the smallest streaming client, {path}, per token"] = (
            block.client_ns / block.tokens / 1000
        )
    relay, gateway = blocks["through the bare TCP relay"], blocks["through hostbench"]
    rows["the bare TCP relay process, per token"] = relay.per_token_us("relay", direct)
    rows["the hostbench server (less its CPU in the direct block), per token"] = (
        gateway.per_token_us("server", direct)
    )
    lines = ["| what | CPU µs (the scheduler's count) |", "|---|---|"]
    return lines + [f"| {what} | {us:.1f} |" for what, us in rows.items()]


def measure(args: argparse.Namespace) -> list[str]:
    loops = {interval: sleeping_loop_us(interval, args.wakes) for interval in (0.001, 0.009)}
    logs = Locations.from_env().logs_dir / "wake-cost"
    server = BackgroundServer([args.model], free_port(), logs / "server.stderr")
    try:
        ready = server.wait_ready()
        message = {"role": "user", "content": "Tell me a long story."}
        ask = {"model": ready["name"], "messages": [message], "stream": True}
        body = json.dumps({**ask, "max_tokens": args.max_tokens, "ignore_eos": True}).encode()
        path = "/v1/chat/completions"
        key = engine_headers(Locations.from_env().token_file)
        with relay_process(ready["port"]) as relay_url:
            watched = {"server": server.proc.pid, "relay": _relay_pid()}
            paths = {
                "direct": (f"http://127.0.0.1:{ready['port']}{path}", key),
                "through the bare TCP relay": (relay_url + path, key),
                "through hostbench": (server.base_url + path, {}),
            }
            for url, headers in paths.values():  # each path once, to warm it up
                stream_block(url, body, headers, 1, watched)
            blocks = {
                name: stream_block(url, body, headers, args.requests, watched)
                for name, (url, headers) in paths.items()
            }
    finally:
        server.stop()
    header = [
        f"Machine: {describe_machine(discover())}",
        f"Model: {args.model}, {ready['runtime']}",
    ]
    header += [f"{args.requests} answers of {args.max_tokens} tokens per path, one at a time", ""]
    return header + table(loops, blocks)


def _relay_pid() -> int:
    """The bench.tcp_relay process relay_process started (a child of this one)."""
    found = (p for p in psutil.Process().children() if "bench.tcp_relay" in p.cmdline())
    return next(found).pid


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--wakes", type=int, default=500, help="wake-ups of the sleeping loop")
    args = parser.parse_args(argv)
    started = time.monotonic()
    print("\n".join(measure(args)))
    print(f"\n({time.monotonic() - started:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
