"""What each per-token step of the gateway's relay costs in CPU, in this process on uvloop,
over a token event recorded from the real llama-server
(tests/fixtures/engine_responses/chat_streams).

    python -m devtools.relay_steps [--events 20000]

Each step is repeated over the same event and timed with time.process_time; the figure is
CPU microseconds per token. `asyncio.sleep(0)` is the cost of one await that yields, so a
step measured with it includes that await.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path

import uvloop

from bench.sse import event_data, parse_data, split_events
from serving.metering import Meter
from serving.upstream import ReadTimer

RECORDED = (
    Path(__file__).parents[1]
    / "tests/fixtures/engine_responses/chat_streams/llama_server_chat_stream.sse"
)


def token_event() -> bytes:
    """The second event of the recorded stream: one token of text."""
    return RECORDED.read_bytes().split(b"\n\n")[1] + b"\n\n"


def cpu_us(count: int, step: Callable[[], object]) -> float:
    started = time.process_time()
    step()
    return (time.process_time() - started) * 1e6 / count


async def _events(event: bytes, count: int) -> AsyncIterator[bytes]:
    for _ in range(count):
        yield event


async def _drain(events: AsyncIterator[object]) -> None:
    async for _ in events:
        pass


async def _awaits(count: int) -> None:
    for _ in range(count):
        await asyncio.sleep(0)


async def _timeout_per_read(count: int) -> None:
    for _ in range(count):
        async with asyncio.timeout(300):
            await asyncio.sleep(0)


async def _read_timer(count: int) -> None:
    timer = ReadTimer(300)
    try:
        for _ in range(count):
            await timer.read(asyncio.sleep(0), 300)
    finally:
        timer.close()


def steps(event: bytes, count: int) -> dict[str, Callable[[], object]]:
    data = event_data(event)
    assert data is not None
    meter = Meter(model="m", engine="e", endpoint="chat", stream=True)
    meter.saw_chunk({"choices": [{"delta": {"role": "assistant"}}]})
    return {
        "json.loads of the event": lambda: [json.loads(data) for _ in range(count)],
        "event_data + parse_data (every event parsed)": lambda: [
            parse_data(event_data(event)) for _ in range(count)
        ],
        "event_data + Meter.saw_quickly (the relay now)": lambda: [
            meter.saw_quickly(event_data(event) or b"") for _ in range(count)
        ],
        "split_events over an async generator": lambda: uvloop.run(
            _drain(split_events(_events(event, count)))
        ),
        "an await that yields (baseline of the two below)": lambda: uvloop.run(_awaits(count)),
        "asyncio.timeout around each await (the relay before)": lambda: uvloop.run(
            _timeout_per_read(count)
        ),
        "ReadTimer.read around each await (the relay now)": lambda: uvloop.run(_read_timer(count)),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    args = parser.parse_args(argv)
    print("| step | CPU µs per token |\n|---|---|")
    for name, step in steps(token_event(), args.events).items():
        print(f"| {name} | {cpu_us(args.events, step):.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
