"""The decode bound and the power figure: measured counters, GPU TDP, a setting, unknown."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from bench.limits import (
    Bandwidth,
    LimitInputs,
    decode_bound,
    device_bandwidth,
    kv_bytes_per_token,
    measure_ram_bandwidth,
)
from bench.power import (
    SETTING_SOURCE,
    UNKNOWN_POWER,
    PowerFigure,
    PowerMeter,
    fallback_power,
    power_over,
    with_current_setting,
)
from hardware import MachineReader
from tests.unit.hardware.conftest import replay_backend


def test_decode_bound_by_hand() -> None:
    # 100 GB/s, 1 GB of weights, 1 MB of KV per stream, 4 streams: 100e9 / 1.004e9
    limit = decode_bound(Bandwidth(100.0, "test"), 1_000_000_000, 1_000_000, batch=4)
    assert limit.bound_tokens_per_s == pytest.approx(100e9 / 1.004e9)
    assert limit.percent_of_bound(49.8) == pytest.approx(49.8 / limit.bound_tokens_per_s * 100)
    assert limit.bytes_per_step == 1_004_000_000


def test_kv_bytes_of_the_default_model() -> None:
    # SmolLM2-135M: 30 layers, 3 KV heads, head dim 64, K and V in f16
    assert kv_bytes_per_token(30, 3, 64) == 30 * 3 * 64 * 2 * 2


def test_limit_inputs_cap_the_batch_at_the_engine_slots() -> None:
    inputs = LimitInputs(Bandwidth(20.0, "t"), 98_000_000, 23_040, max_batch=4)
    limit = inputs.for_run(concurrency=8, context_tokens=100)
    assert limit.batch == 4
    assert limit.kv_bytes_per_stream == 2_304_000


def test_ram_probe_gives_a_plausible_figure() -> None:
    gbps = measure_ram_bandwidth(size_mib=16, repeats=2)
    assert math.isfinite(gbps) and 0.1 < gbps < 10_000


def test_gpu_bandwidth_comes_from_the_facts_table() -> None:
    reader = MachineReader(backends=[replay_backend("one_gpu_rtx5090")])
    try:
        snapshot = reader.read()
    finally:
        reader.close()
    bandwidth = device_bandwidth(snapshot, ram_setting_gbps=None, use_gpu=True)
    assert bandwidth.gbps == snapshot.gpus[0].facts.memory_bandwidth_gbps  # type: ignore[union-attr]
    assert "GPU facts" in bandwidth.source
    assert device_bandwidth(snapshot, 50.0, use_gpu=False) == Bandwidth(
        50.0, "setting cost.ram_bandwidth_gbps"
    )
    figure = fallback_power(snapshot, power_setting_w=None)
    assert fallback_power(snapshot, 300.0).method == "setting"  # a configured figure wins
    assert figure.method == "tdp" and figure.watts == snapshot.gpus[0].facts.tdp_w  # type: ignore[union-attr]


def test_no_counter_and_no_gpu_falls_back_to_the_setting_then_unknown() -> None:
    assert fallback_power(None, 12.5) == PowerFigure(12.5, "setting", SETTING_SOURCE)
    assert fallback_power(None, None) is UNKNOWN_POWER
    assert with_current_setting(UNKNOWN_POWER, 20.0).watts == 20.0
    measured = PowerFigure(300.0, "measured", "energy counter: NVIDIA GPU 0")
    assert with_current_setting(measured, 20.0) is measured
    sampled = PowerFigure(300.0, "sampled", "sampled power, integrated: NVIDIA GPU 0")
    assert with_current_setting(sampled, 20.0) is sampled  # a measurement too


def test_power_meter_on_this_machine_says_where_its_figure_comes_from() -> None:
    meter = PowerMeter(power_setting_w=15.0)
    try:
        meter.start()
        figure = meter.stop()
    finally:
        meter.close()
    assert figure.method in ("measured", "sampled", "tdp", "setting")
    assert figure.watts is not None and figure.source


def test_power_over_a_sampler_window_uses_the_counters_at_both_ends() -> None:
    reader = MachineReader(backends=[replay_backend("one_gpu_rtx5090")])
    try:
        first = reader.read()
    finally:
        reader.close()
    gpu = first.gpus[0]
    start = replace(first, timestamp_s=100.0, gpus=(replace(gpu, energy_total_mj=1_000_000),))
    middle = replace(start, timestamp_s=130.0)
    end = replace(first, timestamp_s=160.0, gpus=(replace(gpu, energy_total_mj=19_000_000),))
    figure = power_over([start, middle, end], power_setting_w=50.0)
    assert figure.method == "measured"
    assert figure.watts == pytest.approx(18_000.0 / 60.0)  # 18 kJ over 60 s
    # counters that did not move: the GPU's recorded power draw (24.05 W), integrated
    still = power_over([start, middle], None)
    assert still.method == "sampled" and still.watts == pytest.approx(24.05)
    # one reading: the setting, then the GPU's TDP
    assert power_over([end], 50.0) == PowerFigure(50.0, "setting", SETTING_SOURCE)
    assert power_over([end], None).method == "tdp"
    assert power_over([], None) is UNKNOWN_POWER
