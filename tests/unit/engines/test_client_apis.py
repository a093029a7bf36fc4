"""Metering, error shapes and client set-up of the Anthropic and Responses APIs, replaying
streams recorded from the real llama-server (tests/fixtures/engine_responses)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from bench.sse import event_data, parse_data
from catalog import LocalModel
from control.api import EngineStatus
from engines.errors import UnsupportedOptionError
from engines.llamacpp import LlamaCppEngine, LlamaCppOptions
from profiles import EngineSettings, Locations, Settings
from serving.errors import ApiError, from_validation_error
from serving.metering import AnthropicMeter, Meter, ResponsesMeter
from serving.schemas import MessagesRequest, ResponsesRequest
from storage import RequestStatus
from workflows.client_env import client_setup, key_source, served_models, shell_lines

RECORDED = Path(__file__).parents[2] / "fixtures" / "engine_responses"
MODEL = LocalModel(id="m", path=Path("/models/m.gguf"), sha256="0" * 64, size_bytes=1, origin="f")


def replay(meter: Meter, name: str) -> list[dict]:
    events = (RECORDED / name).read_bytes().split(b"\n\n")
    payloads = [p for e in events if (p := parse_data(event_data(e))) is not None]
    for payload in payloads:
        meter.saw_chunk(payload)
    return payloads


def test_anthropic_stream_is_metered_from_its_own_events() -> None:
    meter = AnthropicMeter(model="m", engine="llama.cpp", endpoint="messages", stream=True)
    events = replay(meter, "llama_server_messages_stream.sse")
    start = events[0]["message"]["usage"]
    deltas = [e for e in events if e["type"] == "content_block_delta"]
    record = meter.record(RequestStatus.OK, 200)
    assert record.prompt_tokens == start["input_tokens"] + start["cache_read_input_tokens"]
    assert record.completion_tokens == events[-2]["usage"]["output_tokens"] == len(deltas)
    assert record.ttft_ms is not None and record.ttft_ms <= record.e2e_ms


def test_responses_stream_is_metered_from_its_own_events() -> None:
    meter = ResponsesMeter(model="m", engine="llama.cpp", endpoint="responses", stream=True)
    events = replay(meter, "llama_server_responses_stream.sse")
    usage = events[-1]["response"]["usage"]
    record = meter.record(RequestStatus.OK, 200)
    assert record.prompt_tokens == usage["input_tokens"]
    assert record.completion_tokens == usage["output_tokens"]
    assert record.ttft_ms is not None


def test_the_chat_meter_sees_no_token_in_these_streams() -> None:
    """Why each API has its own meter: the chat one would record no TTFT at all."""
    meter = Meter(model="m", engine="llama.cpp", endpoint="messages", stream=True)
    replay(meter, "llama_server_messages_stream.sse")
    assert meter.ttft_ms is None


@pytest.mark.parametrize(
    ("status", "kind"),
    [(400, "invalid_request_error"), (401, "authentication_error"), (404, "not_found_error"),
     (413, "request_too_large"), (429, "rate_limit_error"), (502, "api_error"),
     (503, "overloaded_error")],
)  # fmt: skip
def test_anthropic_error_shape(status: int, kind: str) -> None:
    error = ApiError(status, "why", code="some_code")
    assert error.anthropic_body() == {
        "type": "error",
        "error": {"type": kind, "message": "why", "code": "some_code"},
    }
    event = error.anthropic_sse_event().decode()
    assert event.startswith("event: error\ndata: ") and json.loads(event.split("data: ")[1])


def test_anthropic_meter_ends_a_broken_stream_with_an_anthropic_error_event() -> None:
    meter = AnthropicMeter(model="m", engine="e", endpoint="messages", stream=True)
    assert meter.error_event(ApiError(502, "gone")).startswith(b"event: error\n")
    assert (
        Meter(model="m", engine="e", endpoint="x", stream=True)
        .error_event(ApiError(502, "gone"))
        .startswith(b'data: {"error"')
    )


@pytest.mark.parametrize(
    ("schema", "body", "param"),
    [
        (MessagesRequest, {"model": "m", "messages": [{"role": "user", "content": "x"}]},
         "max_tokens"),
        (MessagesRequest, {"model": "m", "max_tokens": 1, "messages": [], "stream": 0},
         "messages"),
        (ResponsesRequest, {"model": "m", "input": "x", "stream": "true"}, "stream"),
        (ResponsesRequest, {"model": "m", "input": "x", "instructions": 3}, "instructions"),
    ],
)  # fmt: skip
def test_strict_schemas_name_the_field(schema: type, body: dict, param: str) -> None:
    with pytest.raises(ValidationError) as raised:
        schema.model_validate(body, strict=True)
    assert from_validation_error(raised.value).param == param


SECRET = "do-not-print-this-key-0123456789"


def test_key_source_never_holds_the_key(tmp_path: Path) -> None:
    locations = Locations(tmp_path, tmp_path, tmp_path)
    from_env = key_source(Settings(server={"api_key": SECRET}), locations, True,
                          {"HOSTBENCH_SERVER__API_KEY": SECRET})  # fmt: skip
    assert from_env.shell == '"$HOSTBENCH_SERVER__API_KEY"'
    key_file = tmp_path / "key"
    key_file.write_text(SECRET)
    from_file = key_source(Settings(server={"api_key_file": key_file}), locations, True, {})
    assert from_file.shell == f'"$(cat {key_file})"'
    from_config = key_source(Settings(server={"api_key": SECRET}), locations, True, {})
    for source in (from_env, from_file, from_config):
        setup = client_setup("http://h:1", True, ["m"], source)
        assert SECRET not in json.dumps(setup.as_json()) + "\n".join(shell_lines(setup))
    assert isinstance(Settings(server={"api_key": SECRET}).server.api_key, SecretStr)


def _ready(name: str, aliases: list[str]) -> EngineStatus:
    return EngineStatus(
        name=name, aliases=aliases, engine="llama.cpp", model=name, model_path="/m.gguf",
        state="ready",
    )  # fmt: skip


def test_open_server_gets_a_placeholder_key_and_models_in_order() -> None:
    engines = [_ready("a", ["a2"]), _ready("b", [])]
    models = served_models(engines, ["c", "a"])
    assert models == ["a", "a2", "b", "c"]
    open_key = key_source(Settings(), Locations(Path("/x"), Path("/x"), Path("/x")), False, {})
    setup = client_setup("http://127.0.0.1:8080", True, models, open_key)
    lines = shell_lines(setup)
    assert "export OPENAI_BASE_URL=http://127.0.0.1:8080/v1" in lines
    assert "export ANTHROPIC_BASE_URL=http://127.0.0.1:8080" in lines
    assert "export ANTHROPIC_API_KEY=hostbench" in lines
    assert "export ANTHROPIC_MODEL=a" in lines and "export ANTHROPIC_SMALL_FAST_MODEL=a" in lines


def test_reranking_is_a_llama_server_launch_flag(tmp_path: Path) -> None:
    fake = tmp_path / "llama-server"
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    locations = Locations(tmp_path, tmp_path, tmp_path)
    server = LlamaCppEngine(EngineSettings(llama_server_path=fake), locations)
    plain = server.launch_spec(MODEL, "m", LlamaCppOptions(), 1)
    assert "--reranking" not in plain.argv and "/v1/rerank" not in plain.native_endpoints
    assert {"/v1/messages", "/v1/responses", "/tokenize"} <= plain.native_endpoints
    ranking = server.launch_spec(MODEL, "m", LlamaCppOptions(reranking=True), 1)
    assert "--reranking" in ranking.argv and "/v1/rerank" in ranking.native_endpoints
    python = LlamaCppEngine(EngineSettings(prefer_llama_server=False), locations)
    assert not python.launch_spec(MODEL, "m", LlamaCppOptions(), 1).native_endpoints
    with pytest.raises(UnsupportedOptionError, match="cannot rerank"):
        python.launch_spec(MODEL, "m", LlamaCppOptions(reranking=True), 1)


def test_clients_without_a_server_shows_the_configured_address(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from app.cli import main
    from engines.process import free_port

    monkeypatch.setenv("HOSTBENCH_HOME", str(tmp_path))
    monkeypatch.setenv("HOSTBENCH_SERVER__API_KEY", SECRET)
    port = free_port()
    assert main(["clients", "--port", str(port)]) == 4
    out, err = capsys.readouterr()
    assert f"export OPENAI_BASE_URL=http://127.0.0.1:{port}/v1" in out.splitlines()
    assert "no hostbench server" in err and len(err.strip().splitlines()) == 1
    assert SECRET not in out + err


def test_clients_does_not_echo_a_key_given_on_the_command_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from app.cli import main
    from engines.process import free_port

    monkeypatch.setenv("HOSTBENCH_HOME", str(tmp_path))
    assert main(["clients", "--port", str(free_port()), "--api-key", SECRET, "--json"]) == 4
    out, err = capsys.readouterr()
    assert json.loads(out)["api_key"]["source"] == "the key given with --api-key"
    assert SECRET not in out + err
