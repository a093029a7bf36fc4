"""The shipped GPU facts table and how discovered GPUs are matched to it."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest

from hardware.facts import GpuFactsTable, normalize_gpu_name

REPO = Path(__file__).resolve().parents[3]
GiB = 1024**3
MiB = 1024**2


def test_shipped_table_is_the_checked_copy_with_its_sources() -> None:
    shipped = json.loads(resources.files("hardware").joinpath("data/gpus.json").read_text())
    assert shipped["retrieved"]
    assert shipped["source_note"]
    assert all(row["source"] for row in shipped["gpus"])
    shared = REPO.parent / "shared" / "data" / "gpus.json"
    if shared.exists():  # the checked original beside the checkout
        assert shipped == json.loads(shared.read_text())


def test_every_row_carries_its_sources_and_date(facts: GpuFactsTable) -> None:
    assert facts.retrieved == "2026-11-27"
    for entry in facts.entries:
        assert entry.facts.sources
        assert entry.facts.retrieved == facts.retrieved


@pytest.mark.parametrize(
    ("reported", "memory_bytes", "expected"),
    [
        ("NVIDIA H100 80GB HBM3", 81559 * MiB, "NVIDIA H100 80GB HBM3"),
        ("nvidia h100 pcie", None, "NVIDIA H100 PCIe"),
        ("NVIDIA A100-SXM4-80GB", 81920 * MiB, "NVIDIA A100-SXM4-80GB"),
        ("Tesla T4", 15109 * MiB, "Tesla T4"),
        ("NVIDIA T4", None, "Tesla T4"),
        ("NVIDIA GeForce RTX 4090", 24564 * MiB, "NVIDIA GeForce RTX 4090"),
        ("NVIDIA H100 SXM5 80GB", None, "NVIDIA H100 80GB HBM3"),  # memory suffix tolerated
        ("AMD Instinct MI300X OAM", 192 * GiB, "AMD Instinct MI300X"),
        ("Apple M2 Ultra", None, "Apple M2 Ultra"),
    ],
)
def test_match(
    facts: GpuFactsTable, reported: str, memory_bytes: int | None, expected: str
) -> None:
    match = facts.match(reported, memory_bytes)
    assert match is not None
    assert match.name == expected


@pytest.mark.parametrize(
    ("reported", "memory_bytes"),
    [
        ("NVIDIA H200 NVL", None),  # a different board from the H200 row
        ("NVIDIA GeForce GTX 1050 Ti", 4096 * MiB),  # not in the table
        ("NVIDIA GeForce RTX 4060 Ti", 8188 * MiB),  # the 8 GB card is not the 16 GB row
        ("NVIDIA GeForce RTX 3080", 12288 * MiB),  # the 12 GB card has other bandwidth
    ],
)
def test_no_guess(facts: GpuFactsTable, reported: str, memory_bytes: int | None) -> None:
    assert facts.match(reported, memory_bytes) is None


def test_normalisation() -> None:
    assert normalize_gpu_name("NVIDIA A100-SXM4-80GB") == "a100 sxm4 80gb"
    assert normalize_gpu_name("  AMD_Instinct_MI300X ") == "instinct mi300x"


def test_the_data_file_is_package_data() -> None:
    """pyproject finds packages as namespaces (the default), so `hardware/data` is a package
    and its `*.json` is package data. (A wheel built with `pip wheel .` on 2026-11-27
    contained hardware/data/gpus.json.)"""
    import tomllib

    from setuptools import find_namespace_packages

    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert config["packages"]["find"].get("namespaces", True)
    assert "*.json" in config["package-data"]["*"]
    include = config["packages"]["find"]["include"]
    assert "hardware.data" in find_namespace_packages(where=str(REPO), include=include)
