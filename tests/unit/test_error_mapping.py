"""Engine errors and invalid requests become OpenAI-shaped errors; core errors exit codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from app.cli.exit_codes import ExitCode, exit_code_for
from catalog import IntegrityError, ModelNotFoundError
from engines.errors import EngineStartError, PortInUseError
from engines.server import engine_errors
from engines.server.errors import from_validation_error
from engines.server.schemas import ChatCompletionRequest

FIXTURES = Path(__file__).parents[1] / "fixtures" / "engine_responses"


class FakeSpec:
    context_limit = 512


class FakeEngine:
    name = "m"
    spec = FakeSpec()
    log_path = Path("/logs/m.log")

    def retry_after_s(self) -> int:
        return 3


def recorded(name: str) -> tuple[int, bytes]:
    data = json.loads((FIXTURES / name).read_text())
    return data["status"], json.dumps(data["body"]).encode()


@pytest.mark.parametrize("fixture", sorted(p.name for p in FIXTURES.glob("*context_overflow*")))
def test_context_overflow_from_each_runtime(fixture: str) -> None:
    status, body = recorded(fixture)
    error = engine_errors.from_engine_response(FakeEngine(), status, body, "messages")  # type: ignore[arg-type]
    assert (error.status, error.code, error.param) == (400, "context_length_exceeded", "messages")
    assert error.message.startswith("This model's maximum context length is 512 tokens")


def test_other_engine_errors_keep_their_message_and_status() -> None:
    body = json.dumps({"error": {"message": "bad grammar", "code": 400}}).encode()
    error = engine_errors.from_engine_response(FakeEngine(), 400, body, "messages")  # type: ignore[arg-type]
    assert (error.status, error.message, error.type) == (
        400,
        "bad grammar",
        "invalid_request_error",
    )
    garbage = engine_errors.from_engine_response(FakeEngine(), 500, b"<html>", "prompt")  # type: ignore[arg-type]
    assert garbage.status == 500 and garbage.type == "server_error"
    assert garbage.body()["error"]["message"] == "<html>"


def validation(body: dict[str, Any]) -> dict[str, Any]:
    with pytest.raises(ValidationError) as caught:
        ChatCompletionRequest.model_validate(body)
    return from_validation_error(caught.value).body()["error"]


def test_validation_errors_name_the_field() -> None:
    assert validation({"model": "m"})["param"] == "messages"
    nested = validation({"model": "m", "messages": [{"content": "x"}]})
    assert nested["param"] == "messages.0.role"
    assert nested["code"] == "missing_required_parameter"


def test_exit_codes() -> None:
    assert exit_code_for(ModelNotFoundError("x", [])) == ExitCode.NOT_FOUND
    assert exit_code_for(PortInUseError("busy")) == ExitCode.UNAVAILABLE
    assert exit_code_for(IntegrityError("bad hash")) == ExitCode.INTEGRITY
    assert exit_code_for(EngineStartError("died", ["line"])) == ExitCode.LAUNCH_FAILED
    assert exit_code_for(RuntimeError("bug")) == ExitCode.ERROR
