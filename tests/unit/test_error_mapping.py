"""Engine errors and invalid requests become OpenAI-shaped errors; core errors exit codes."""

from __future__ import annotations

import importlib
import json
import pkgutil
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from app.cli.exit_codes import exit_code_for
from app.tui.app import known_error
from catalog import (
    AccessDeniedError,
    CancelledError,
    DoesNotFitError,
    InsufficientDiskError,
    IntegrityError,
    InvalidModelFileError,
    ModelNotFoundError,
    QuantNotAvailableError,
    SourceUnavailableError,
)
from engines.errors import (
    EngineExistsError,
    EngineNotFoundError,
    EngineStartError,
    EngineUnavailableError,
    PortInUseError,
    UnknownEngineError,
    UnsupportedOptionError,
)
from errors import ExitCode, HostbenchError
from profiles.library import ProfileError
from serving import engine_errors
from serving.errors import api_error_from, from_validation_error
from serving.schemas import ChatCompletionRequest
from tests.unit.test_import_hygiene import CORE, ROOT

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


def test_an_input_longer_than_the_micro_batch_is_the_clients_to_shorten() -> None:
    """llama-server answers 500 for an embeddings input it cannot split that is longer than
    its micro-batch; the client gets a 400 naming the input, its length and the relaunch."""
    status, body = recorded("llama_server_embedding_input_too_large.json")
    error = engine_errors.from_engine_response(FakeEngine(), status, body, "input")  # type: ignore[arg-type]
    assert (error.status, error.code, error.param) == (400, "input_too_long", "input")
    assert error.type == "invalid_request_error"
    assert "690 tokens" in error.message and "--ubatch-size and --batch-size" in error.message


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


ANSWERS = {
    # class: (exit code, HTTP status, OpenAI type): the CLI's and the control API's own
    # tables had these before the classes declared them (errors/); PortInUseError and
    # CancelledError, which no server route raised, took their family's status
    ModelNotFoundError: (3, 404, "not_found_error"),
    QuantNotAvailableError: (3, 404, "not_found_error"),
    EngineNotFoundError: (3, 404, "not_found_error"),
    ProfileError: (3, 400, "invalid_request_error"),
    InvalidModelFileError: (2, 400, "invalid_request_error"),
    UnknownEngineError: (2, 400, "invalid_request_error"),
    UnsupportedOptionError: (2, 400, "invalid_request_error"),
    EngineUnavailableError: (4, 400, "invalid_request_error"),
    EngineExistsError: (4, 409, "invalid_request_error"),
    AccessDeniedError: (8, 403, "invalid_request_error"),
    InsufficientDiskError: (6, 507, "server_error"),
    DoesNotFitError: (9, 507, "server_error"),
    EngineStartError: (7, 502, "server_error"),
    IntegrityError: (5, 502, "server_error"),
    SourceUnavailableError: (4, 502, "server_error"),
    PortInUseError: (4, 503, "service_unavailable_error"),
    CancelledError: (130, 502, "server_error"),
}


def bare(kind: type[HostbenchError]) -> HostbenchError:
    """An instance without its constructor's arguments (the mapping reads only the class)."""
    error = kind.__new__(kind)
    Exception.__init__(error, "what went wrong")
    return error


@pytest.mark.parametrize("kind", ANSWERS, ids=lambda kind: kind.__name__)
def test_each_error_is_answered_as_before(kind: type[HostbenchError]) -> None:
    error = bare(kind)
    answer = api_error_from(error)
    assert (exit_code_for(error), answer.status, answer.type) == ANSWERS[kind]
    assert answer.code == kind.__name__


def every_error_class() -> list[type[HostbenchError]]:
    for package in CORE:
        for info in pkgutil.walk_packages([str(ROOT / package)], prefix=f"{package}."):
            if "llamacpp.build" not in info.name:
                importlib.import_module(info.name)
    found, todo = [], [HostbenchError]
    while todo:
        kind = todo.pop()
        found.append(kind)
        todo.extend(kind.__subclasses__())
    return found


def test_every_front_end_reads_the_answer_from_the_error() -> None:
    """The CLI's exit code, the server's status and type, and the workbench's one-line
    notification come from the class itself for every error of the core."""
    kinds = every_error_class()
    assert len(kinds) > 40
    for kind in kinds:
        error = bare(kind)
        answer = api_error_from(error)
        assert exit_code_for(error) == kind.exit_code, kind
        assert (answer.status, answer.type) == (kind.http_status, kind.openai_type), kind
        assert known_error(error), kind
