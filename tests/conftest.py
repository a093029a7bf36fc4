"""Shared fixtures: every test runs against its own HOSTBENCH_HOME."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh hostbench home for one test (config, data and store under tmp_path)."""
    root = tmp_path / "home"
    monkeypatch.setenv("HOSTBENCH_HOME", str(root))
    for name in list(__import__("os").environ):
        if name.startswith("HOSTBENCH_") and name not in ("HOSTBENCH_HOME", "HOSTBENCH_CACHE_DIR"):
            monkeypatch.delenv(name)
    yield root
