"""The relay parses an OpenAI stream's event only where that changes what is recorded
(Meter.saw_quickly): replaying streams recorded from the real engines, it records what
parsing every event records."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.sse import event_data, parse_data
from serving.metering import AnthropicMeter, Meter, ResponsesMeter
from storage import RequestStatus

RECORDED = Path(__file__).parents[2] / "fixtures" / "engine_responses"
STREAMS = sorted((RECORDED / "chat_streams").glob("*.sse"))


def datas(path: Path) -> list[bytes]:
    events = path.read_bytes().replace(b"\r\n", b"\n").split(b"\n\n")
    return [data for event in events if (data := event_data(event)) is not None]


def every_event_parsed(path: Path) -> tuple[Meter, int]:
    meter = Meter(model="m", engine="e", endpoint="chat", stream=True)
    for data in datas(path):
        if (payload := parse_data(data)) is not None:
            meter.saw_chunk(payload)
    return meter, 0


def as_the_relay_does(path: Path) -> tuple[Meter, int]:
    meter, parsed = Meter(model="m", engine="e", endpoint="chat", stream=True), 0
    for data in datas(path):
        if not meter.saw_quickly(data) and (payload := parse_data(data)) is not None:
            parsed += 1
            meter.saw_chunk(payload)
    return meter, parsed


def recorded(meter: Meter) -> tuple:
    record = meter.record(RequestStatus.OK, 200)
    return (
        record.ttft_ms is not None,
        record.prompt_tokens,
        record.completion_tokens,
        meter.content_chunks,
    )


@pytest.mark.parametrize("path", STREAMS, ids=[p.stem for p in STREAMS])
def test_the_relay_records_what_parsing_every_event_records(path: Path) -> None:
    full, _ = every_event_parsed(path)
    quick, parsed = as_the_relay_does(path)
    assert recorded(quick) == recorded(full)
    assert parsed <= 3 < len(datas(path)), "only the first events and the usage are parsed"


def test_the_streams_recorded_cover_usage_and_its_absence() -> None:
    found = {p.stem: recorded(every_event_parsed(p)[0]) for p in STREAMS}
    assert found["llama_server_chat_stream"][1:3] == (34, 12), "usage from the engine"
    assert found["llama_cpp_python_chat_stream"][1:] == (None, 12, 12), "counted from text"


def test_an_error_or_usage_is_always_parsed_and_other_apis_always_parse() -> None:
    meter = Meter(model="m", engine="e", endpoint="chat", stream=True)
    meter.saw_chunk({"choices": [{"delta": {"role": "assistant"}}]})
    assert meter.saw_quickly(b'{"choices":[{"delta":{"content":"x"}}]}')
    assert not meter.saw_quickly(b'{"error":{"code":500,"message":"boom"}}')
    assert not meter.saw_quickly(b'{"choices":[],"usage":{"completion_tokens":1}}')
    assert not meter.saw_quickly(b"[DONE]")
    for other in (AnthropicMeter, ResponsesMeter):
        assert not other(model="m", engine="e", endpoint="x", stream=True).saw_quickly(b"{}")
