"""Shared paths and builders for the hardware tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hardware import MachineSnapshot, snapshot_to_dict
from hardware.facts import GpuFactsTable
from hardware.nvml import NvidiaBackend
from hardware.nvml_replay import RecordedNvml

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
NVML_FIXTURES = FIXTURES / "nvml"


def replay_backend(name: str, facts: GpuFactsTable | None = None) -> NvidiaBackend:
    """An NvidiaBackend answering from tests/fixtures/nvml/NAME.json."""
    recorded = RecordedNvml.from_file(NVML_FIXTURES / f"{name}.json")
    return NvidiaBackend(api_factory=lambda: recorded, facts=facts)


def snapshot_file(directory: Path, snapshot: MachineSnapshot, name: str = "machine.json") -> Path:
    """What `hostbench gpus --json` writes on that machine, for `fit`/`launch --machine`."""
    path = directory / name
    path.write_text(json.dumps(snapshot_to_dict(snapshot)), "utf-8")
    return path


@pytest.fixture(scope="session")
def facts() -> GpuFactsTable:
    return GpuFactsTable.load()
