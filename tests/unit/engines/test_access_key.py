"""The engines' API key: derived from the control token, given through the environment."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from catalog import LocalModel
from control.channel import engine_headers, engine_key, write_token
from engines.errors import EngineStartError
from engines.llamacpp import LlamaCppEngine
from engines.supervisor import LaunchRequest, ManagedEngine
from profiles import EngineSettings, Locations


def test_the_key_is_the_tokens_and_no_one_elses(tmp_path: Path) -> None:
    token_file = tmp_path / "control-token"
    assert engine_headers(token_file) == {}, "no server has run here"
    token = write_token(token_file)
    key = engine_key(token)
    assert engine_headers(token_file) == {"Authorization": f"Bearer {key}"}
    assert key == engine_key(token) and key != engine_key(token + "x")
    assert token not in key, "an engine never holds the control token"
    rotated = write_token(token_file)
    assert engine_headers(token_file) == {"Authorization": f"Bearer {engine_key(rotated)}"}


def test_an_engine_starts_with_its_key_in_its_environment(tmp_path: Path) -> None:
    """A real process (a shell standing in for llama-server, which `make setup` builds but
    a unit test does not wait for) records the environment it was given."""
    seen = tmp_path / "environment"
    fake = tmp_path / "llama-server"
    record = f'printf "%s" "$LLAMA_API_KEY" > {seen}'
    fake.write_text(f'#!/bin/sh\n[ "$1" = --version ] && exit 0\n{record}\nexec sleep 30\n')
    fake.chmod(0o755)
    settings = EngineSettings(llama_server_path=fake, ready_timeout_s=1)
    adapter = LlamaCppEngine(settings, Locations(tmp_path, tmp_path, tmp_path))
    model = LocalModel(
        id="m", path=tmp_path / "m.gguf", sha256="0" * 64, size_bytes=1, origin="file"
    )
    request = LaunchRequest(model, adapter, adapter.parse_options({}), "m")
    key = "k" * 64
    engine = ManagedEngine(request, settings, tmp_path, lambda _e: None, access_key=lambda: key)

    async def start() -> None:
        try:
            with pytest.raises(EngineStartError):  # the stand-in never answers
                await engine.start()
        finally:
            await engine.stop(grace_s=1)

    asyncio.run(start())
    assert seen.read_text() == key
    assert engine.spec is not None
    assert engine.spec.runtime == "llama-server"
    assert engine.spec.upstream_headers == {"Authorization": f"Bearer {key}"}
