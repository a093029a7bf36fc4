"""Fixtures the engine adapters' unit tests share.

Every async test here runs twice: on asyncio's own event loop and on uvloop, the loop the
server runs on where it is installed (their transports differ: uvloop's are not subclasses
of asyncio's)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
import uvloop

from catalog import LocalModel, load_catalog
from engines.vllm import VllmEngine
from profiles import Locations


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> Mapping[str, Callable[[], asyncio.AbstractEventLoop]]:
    return {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}


@pytest.fixture
def engine(tmp_path: Path) -> VllmEngine:
    """The vLLM adapter with its data in a temporary home (nothing is started)."""
    return VllmEngine(locations=Locations(tmp_path, tmp_path, tmp_path))


def located(engine: VllmEngine, text: str) -> LocalModel:
    """The model `text` names, as the vLLM adapter finds it in the catalog."""
    found = engine.locate_model(text, load_catalog(), {})
    assert found is not None
    return found
