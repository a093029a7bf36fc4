"""Workbench tests: pilot tests against real servers with the real default model, and SVG
snapshots of every screen against a recorded server (deterministic)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from textual.message import Message
from textual.pilot import Pilot

from tests.integration.conftest import default_server, session_home  # noqa: F401  (fixtures)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """No HOSTBENCH_* settings from the caller's shell; an empty Hugging Face cache."""
    import os

    for name in list(os.environ):
        if name.startswith("HOSTBENCH_") and name != "HOSTBENCH_CACHE_DIR":
            monkeypatch.delenv(name)
    cache = tmp_path / "hf-cache"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    yield cache


async def wait_until(
    pilot: Pilot[None], done: Callable[[], object], what: str, timeout_s: float = 60
) -> None:
    """Let the app run until `done()` holds; fail with `what` after the deadline."""
    deadline = time.monotonic() + timeout_s
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        await pilot.pause(0.05)


class Messages(list[Message]):
    """Every message the app handled, in order (pass `hook` as run_test's message_hook)."""

    def hook(self, message: Message) -> None:
        self.append(message)

    def of(self, kind: type[Message]) -> list[Message]:
        return [m for m in self if isinstance(m, kind)]
