"""The GPU card's subtitle: a dedicated GPU's driver, a Mac's Metal budget and its basis.
From replayed real readings: the Macs of tests/fixtures/apple (sources in the files) and
an RTX 5090 of tests/fixtures/nvml."""

from __future__ import annotations

from app.tui.screens.machine import gpu_subtitle
from tests.unit.catalog.conftest import machine
from tests.unit.hardware.test_apple_metal import mac


def test_a_mac_says_where_its_metal_budget_comes_from() -> None:
    (default,) = mac("m2_pro_32gb_system_profiler", 28).gpus
    assert gpu_subtitle(default) == "Metal budget: macOS default, two-thirds of 32 GiB"
    (raised,) = mac("m1_max_32gb_wired_limit", 30).gpus
    assert gpu_subtitle(raised) == "Metal budget: iogpu.wired_limit_mb = 26000"


def test_a_dedicated_gpu_shows_its_driver() -> None:
    (gpu,) = machine("one_gpu_rtx5090").gpus
    assert gpu.driver_version and gpu_subtitle(gpu).startswith(f"driver {gpu.driver_version}")
