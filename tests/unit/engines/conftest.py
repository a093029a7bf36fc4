"""Fixtures the engine adapters' unit tests share."""

from __future__ import annotations

from pathlib import Path

import pytest

from catalog import LocalModel, load_catalog
from engines.vllm import VllmEngine
from profiles import Locations


@pytest.fixture
def engine(tmp_path: Path) -> VllmEngine:
    """The vLLM adapter with its data in a temporary home (nothing is started)."""
    return VllmEngine(locations=Locations(tmp_path, tmp_path, tmp_path))


def located(engine: VllmEngine, text: str) -> LocalModel:
    """The model `text` names, as the vLLM adapter finds it in the catalog."""
    found = engine.locate_model(text, load_catalog(), {})
    assert found is not None
    return found
