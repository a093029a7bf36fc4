"""The generic engine: llama-cpp-python's own server launched as a plain command (the
`llama-cpp-python` preset), then the OpenAI client tests, unchanged, against it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from engines.process import free_port
from tests.integration.test_openai_api import (  # the same tests, against this engine
    client,
    test_chat_completion,
    test_client_gone_mid_stream_stops_the_engine,
    test_completions,
    test_embeddings_need_the_option,
    test_embeddings_when_launched_for_them,
    test_four_concurrent_streams_complete,
    test_models_lists_the_launched_model,
    test_requests_are_recorded_in_the_store,
    test_streamed_chat_has_content_and_no_usage_unless_asked,
    test_streamed_usage_is_reported_or_never_invented,
)
from tests.servers import DEFAULT_MODEL, ServerProcess, run_cli

PYTHON_SERVER_FOR_OTHER_LAUNCHES = {"HOSTBENCH_ENGINES__PREFER_LLAMA_SERVER": "false"}
"""Engines launched through the control API during the tests run on llama.cpp's Python
server too, so the tests' expectations for that runtime hold."""

__all__ = [
    "client",
    "test_chat_completion",
    "test_client_gone_mid_stream_stops_the_engine",
    "test_completions",
    "test_embeddings_need_the_option",
    "test_embeddings_when_launched_for_them",
    "test_four_concurrent_streams_complete",
    "test_models_lists_the_launched_model",
    "test_requests_are_recorded_in_the_store",
    "test_streamed_chat_has_content_and_no_usage_unless_asked",
    "test_streamed_usage_is_reported_or_never_invented",
]


@pytest.fixture(scope="module")
def server(session_home: Path) -> Iterator[ServerProcess]:
    args = (DEFAULT_MODEL, "--profile", "llama-cpp-python")
    process = ServerProcess(session_home, args=args, env=PYTHON_SERVER_FOR_OTHER_LAUNCHES)
    try:
        ready = process.wait_ready()
        assert ready["engine"] == "openai-compatible"
        assert ready["runtime"] == "llama_cpp.server"
        yield process
    finally:
        process.terminate()


def test_the_command_line_is_the_preset_with_its_placeholders_filled(server: ServerProcess) -> None:
    engine = server.engine()
    log = Path(engine["log_path"]).read_text(errors="replace").splitlines()
    started = [line for line in log if "=== hostbench" in line and "starting" in line][-1]
    assert f"--port {engine['port']}" in started and "--host 127.0.0.1" in started
    assert f"--model_alias {DEFAULT_MODEL}" in started and engine["model_path"] in started
    assert "{" not in started


def test_a_command_that_cannot_start_is_refused_with_the_reason(
    server: ServerProcess, session_home: Path
) -> None:
    """A command comes from the user's own command line (or a profile), never from the
    control API; `launch` starting its own server checks it before serving."""
    refused = server.control(
        "POST",
        "/api/engines",
        json={
            "model": DEFAULT_MODEL,
            "name": "nothing",
            "engine": "openai-compatible",
            "options": {"command": "no-such-server --port {port}"},
        },
    )
    assert refused.status_code == 400 and refused.json()["error"]["param"] == "options.command"
    for command, expected in (
        ("no-such-server --port {port}", "no-such-server"),
        ("{python} -m llama_cpp.server --port {prot}", "{prot}"),
    ):
        done = run_cli(
            session_home, "launch", DEFAULT_MODEL, "--engine", "openai-compatible",
            "--command", command, "--port", str(free_port()),
        )  # fmt: skip
        assert done.returncode in (2, 4), done.stderr
        assert expected in done.stderr.strip().splitlines()[-1]
    unknown = run_cli(
        session_home, "launch", DEFAULT_MODEL, "--engine", "openai-compatible",
        "--command", "x --port {prot}", "--dry-run",
    )  # fmt: skip
    assert unknown.returncode == 0, "a dry run only resolves options"
    assert httpx.get(server.openai_url + "/models", timeout=10).status_code == 200
