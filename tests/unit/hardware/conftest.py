"""Shared paths and builders for the hardware tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from hardware.facts import GpuFactsTable
from hardware.nvml import NvidiaBackend
from hardware.nvml_replay import RecordedNvml

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
NVML_FIXTURES = FIXTURES / "nvml"


def replay_backend(name: str, facts: GpuFactsTable | None = None) -> NvidiaBackend:
    """An NvidiaBackend answering from tests/fixtures/nvml/NAME.json."""
    recorded = RecordedNvml.from_file(NVML_FIXTURES / f"{name}.json")
    return NvidiaBackend(api_factory=lambda: recorded, facts=facts)


@pytest.fixture(scope="session")
def facts() -> GpuFactsTable:
    return GpuFactsTable.load()
