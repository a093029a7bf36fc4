"""Energy per token: counters, sampled power integrated, idle attribution, and the words
every surface prints (a basis next to each figure, "not available" with a reason).

GPU readings are replayed from tests/fixtures/nvml (their sources are in each file): the
H100 recording has NVML's energy counter; the RTX 5090 and the two RTX 3090s report power
draw without one; the GTX 1050 Ti reports neither. The idle power is the recorded value;
the loaded values are set by the test, since every recording is of an idle machine.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from app.display.cost import cost_lines, energy_cell, energy_lines, live_energy_line
from bench.cost import CostInputs, run_cost
from bench.energy import energy_per_output, idle_seconds, serving_share, with_idle_time
from bench.loadgen import StreamSample
from bench.power import (
    COUNTER_LABEL,
    SAMPLED_LABEL,
    SETTING_SOURCE,
    UNKNOWN_POWER,
    PowerFigure,
    PowerMeter,
    measured_power,
    power_over,
)
from bench.power_readings import energy_parts, trapezoid_joules
from hardware import MachineReader, MachineSnapshot
from tests.unit.hardware.conftest import replay_backend


def recorded(name: str) -> MachineSnapshot:
    """The replayed GPUs, without this machine's own RAPL counter (root may read it)."""
    reader = MachineReader(backends=[replay_backend(name)])
    try:
        return with_rapl(reader.read(), None)
    finally:
        reader.close()


def at(snapshot: MachineSnapshot, t: float, *watts: float | None) -> MachineSnapshot:
    """The reading at `t` s with each GPU drawing `watts` (None: the recorded value)."""
    gpus = tuple(
        gpu if w is None else replace(gpu, power_draw_w=w)
        for gpu, w in zip(snapshot.gpus, watts or (None,) * len(snapshot.gpus), strict=True)
    )
    return replace(snapshot, timestamp_s=t, gpus=gpus)


def with_rapl(
    snapshot: MachineSnapshot, uj: int | None, watts: float | None = None
) -> MachineSnapshot:
    cpu = replace(snapshot.cpu, package_energy_uj=uj, package_power_w=watts)
    return replace(snapshot, cpu=cpu)


# -- integration --------------------------------------------------------------------------


def test_trapezoid_by_hand() -> None:
    # 0-1 s: 100 -> 300 W (200 J); 1-3 s: 300 W flat (600 J); a reading out of order adds 0
    assert trapezoid_joules([(0.0, 100.0), (1.0, 300.0), (3.0, 300.0)]) == pytest.approx(800.0)
    assert trapezoid_joules([(0.0, 100.0), (0.0, 500.0)]) == 0.0
    assert trapezoid_joules([(5.0, 100.0)]) == 0.0


def test_a_gpu_without_a_counter_has_its_power_draw_integrated() -> None:
    rtx = recorded("one_gpu_rtx5090")  # 24.05 W idle, no energy counter
    assert rtx.gpus[0].energy_total_mj is None and rtx.gpus[0].power_draw_w == 24.05
    series = [at(rtx, 0.0), at(rtx, 1.0, 300.0), at(rtx, 2.0, 300.0), at(rtx, 4.0, None)]
    # (24.05 + 300) / 2 x 1 + 300 x 1 + (300 + 24.05) / 2 x 2 = 786.075 J over 4 s
    figure = measured_power(series, first_is_idle=True)
    assert figure is not None and figure.method == "sampled" and figure.measured
    assert figure.watts == pytest.approx(786.075 / 4.0)
    assert figure.seconds == 4.0 and figure.idle_w == pytest.approx(24.05)
    assert figure.source.startswith(SAMPLED_LABEL) and "4 readings" in figure.source
    # a sampler's window: requests may be in flight at its first reading, so no idle power
    assert power_over(series, None).idle_w is None


def test_two_gpus_without_counters_add_up() -> None:
    pair = recorded("two_gpus_rtx3090_recorded")  # 30.1 W and 36.88 W idle
    series = [at(pair, 10.0), at(pair, 20.0, 250.0, 200.0), at(pair, 30.0)]
    gpu0 = (30.1 + 250.0) / 2 * 10 * 2  # up and down again
    gpu1 = (36.88 + 200.0) / 2 * 10 * 2
    figure = measured_power(series, first_is_idle=True)
    assert figure is not None and figure.watts == pytest.approx((gpu0 + gpu1) / 20.0)
    assert figure.idle_w == pytest.approx(30.1 + 36.88)
    assert "NVIDIA GPU 0, NVIDIA GPU 1 power draw" in figure.source


def test_a_counter_beats_samples_and_a_mixed_figure_is_labelled_sampled() -> None:
    h100 = recorded("one_gpu_h100_recorded")  # 74.562 W, counter 3,097,137 mJ
    gpu = h100.gpus[0]
    end = replace(h100, timestamp_s=160.0, gpus=(replace(gpu, energy_total_mj=21_097_137),))
    counted = measured_power([replace(h100, timestamp_s=100.0), end], first_is_idle=True)
    assert counted is not None and counted.method == "measured"
    assert counted.watts == pytest.approx(18_000.0 / 60.0)  # 18 kJ over 60 s, not 74.562 W
    assert counted.source.startswith(COUNTER_LABEL) and counted.idle_w == pytest.approx(74.562)

    mixed_pair = recorded("two_gpus_h100_rtx4060ti")  # neither GPU recorded a counter
    h, rtx = mixed_pair.gpus
    start = replace(mixed_pair, timestamp_s=0.0, gpus=(replace(h, energy_total_mj=0), rtx))
    stop = replace(mixed_pair, timestamp_s=10.0, gpus=(replace(h, energy_total_mj=2_000_000), rtx))
    mixed = measured_power([start, stop], first_is_idle=False)
    assert mixed is not None and mixed.method == "sampled"  # the weaker basis names it
    assert mixed.watts == pytest.approx(200.0 + 30.5)  # 2 kJ / 10 s + 30.5 W flat
    assert COUNTER_LABEL in mixed.source and SAMPLED_LABEL in mixed.source


def test_rapl_counts_with_the_gpus_and_its_idle_watts_come_from_the_first_reading() -> None:
    rtx = recorded("one_gpu_rtx5090")
    first = with_rapl(at(rtx, 0.0), 1_000_000, watts=15.0)
    last = with_rapl(at(rtx, 10.0), 401_000_000)
    parts, missing = energy_parts([first, last])
    assert [p.joules for p in parts] == pytest.approx([240.5, 400.0]) and not missing
    figure = measured_power([first, last], first_is_idle=True)
    assert figure is not None and figure.watts == pytest.approx(64.05)
    assert figure.idle_w == pytest.approx(24.05 + 15.0)


def test_a_gpu_with_neither_counter_nor_power_gives_no_measurement() -> None:
    gtx = recorded("power_unsupported_gtx1050ti")  # 'Power Draw : N/A', no TDP in facts
    series = [at(gtx, 0.0), at(gtx, 30.0)]
    assert measured_power(series, first_is_idle=True) is None
    assert power_over(series, None) is UNKNOWN_POWER
    assert power_over(series, 60.0) == PowerFigure(60.0, "setting", SETTING_SOURCE)
    # next to a CPU counter, the GPU is named as left out rather than silently dropped
    partial = measured_power(
        [with_rapl(at(gtx, 0.0), 0), with_rapl(at(gtx, 30.0), 900_000_000)], False
    )
    assert partial is not None and partial.watts == pytest.approx(30.0)
    assert "not included (no counter, no power reading): NVIDIA GPU 0" in partial.source


# -- the meter around a run ------------------------------------------------------------------


class ScriptedReader:
    """Hands out recorded readings in order, as MachineReader.read() would."""

    def __init__(self, readings: list[MachineSnapshot]) -> None:
        self.readings = readings
        self.closed = False

    def read(self) -> MachineSnapshot:
        return self.readings.pop(0)

    def close(self) -> None:
        self.closed = True


def test_the_meter_integrates_its_readings_and_keeps_the_idle_one() -> None:
    rtx = recorded("one_gpu_rtx5090")
    reader = ScriptedReader([rtx, at(rtx, 0, 300.0), at(rtx, 0, 300.0)])
    times = iter([0.0, 2.0, 4.0])
    meter = PowerMeter(reader=reader, clock=lambda: next(times), interval_s=3600.0)  # type: ignore[arg-type]
    assert meter.start() is rtx
    meter.sample()  # what the thread does every interval_s
    figure = meter.stop()
    # 0-2 s: 24.05 -> 300 W; 2-4 s: 300 W
    assert figure.method == "sampled" and figure.idle_w == pytest.approx(24.05)
    assert figure.watts == pytest.approx(((24.05 + 300.0) + 600.0) / 4.0)
    meter.close()
    assert reader.closed


def test_the_meter_probes_rapl_before_the_run_for_its_idle_watts() -> None:
    rtx = recorded("one_gpu_rtx5090")
    readings = [
        with_rapl(rtx, 0),  # start, before the probe
        with_rapl(rtx, 5_000_000),  # 0.5 s later: 10 W at idle
        with_rapl(at(rtx, 0, 24.05), 505_000_000),  # stop, 10 s after the probe
    ]
    times = iter([0.0, 0.5, 10.5])
    meter = PowerMeter(
        reader=ScriptedReader(readings),  # type: ignore[arg-type]
        clock=lambda: next(times),
        interval_s=0,
        idle_probe_s=0,
    )
    meter.start()
    figure = meter.stop()
    assert figure.seconds == pytest.approx(10.0)  # from the probe's reading on
    assert figure.watts == pytest.approx(50.0 + 24.05)  # 500 J RAPL + 24.05 W GPU
    assert figure.idle_w == pytest.approx(10.0 + 24.05)


# -- attribution ---------------------------------------------------------------------------


def sample(sent: float, e2e_s: float, ok: bool = True) -> StreamSample:
    return StreamSample(ok, 10.0, e2e_s * 1000.0, 8, (), sent_at_s=sent)


def test_idle_time_is_the_run_minus_the_time_any_request_was_in_flight() -> None:
    samples = [
        sample(100.0, 2.0),
        sample(101.0, 2.0),
        sample(105.0, 1.0),
        sample(106.0, 0.5, False),
    ]
    # 100-103 s and 105-106.5 s in flight (a failed request too)
    assert idle_seconds(samples, 10.0) == pytest.approx(10.0 - 3.0 - 1.5)
    assert idle_seconds(samples, 2.0) == 0.0  # never below zero
    figure = PowerFigure(300.0, "measured", "energy counter: x", seconds=10.0, idle_w=50.0)
    assert with_idle_time(figure, samples, 9.0).idle_s == pytest.approx(5.5)  # meter's span
    setting = PowerFigure(300.0, "setting", SETTING_SOURCE)
    assert with_idle_time(setting, samples, 9.0) is setting


def test_each_level_of_a_sweep_stores_its_idle_time() -> None:
    from bench.load import LoadResult, Target
    from bench.prompts import PromptSet
    from bench.session import BenchPlan, SweepHooks, _Sweep

    sweep = _Sweep(Target("http://x/v1", "m"), BenchPlan(), PromptSet((), {}), {}, SweepHooks())
    power = PowerFigure(300.0, "sampled", "sampled power, integrated: x", seconds=10.0, idle_w=40.0)
    result = LoadResult((sample(0.0, 2.0), sample(4.0, 3.0)), 9.5)
    run = sweep.make_run(1, result, power)
    assert run.power.idle_s == pytest.approx(10.0 - 5.0)  # over the meter's 10 s
    assert run.energy.serving_wh_per_mtok_output == pytest.approx(
        run.energy.wh_per_mtok_output * (1 - 40.0 * 5.0 / 3000.0)  # type: ignore[operator]
    )


def test_the_serving_share_takes_off_idle_power_times_idle_time() -> None:
    # 300 W over 60 s = 18 kJ; idle 50 W x 12 s = 600 J of it; 100 output tok/s
    power = PowerFigure(300.0, "measured", "energy counter: x", 60.0, 50.0, 12.0)
    energy = energy_per_output(power, 100.0)
    whole = 300.0 / (100.0 * 3600.0) * 1e6  # 833.3 Wh per 1M output tokens
    assert energy.wh_per_mtok_output == pytest.approx(whole)
    assert energy.serving_wh_per_mtok_output == pytest.approx(whole * (1 - 600.0 / 18_000.0))
    assert energy.basis == "measured" and energy.label == COUNTER_LABEL and energy.measured
    assert "50 W (read before the first request) x 12.0 s" in energy.attribution
    assert "3 % of the energy" in energy.attribution
    busy = replace(power, idle_s=0.0)
    assert energy_per_output(busy, 100.0).serving_wh_per_mtok_output == pytest.approx(whole)
    assert serving_share(replace(power, idle_w=None)) == (
        None,
        "no idle power reading before the run",
    )
    assert serving_share(replace(power, idle_w=400.0, idle_s=60.0))[0] is None


def test_assumed_and_missing_power_are_labelled_so() -> None:
    setting = energy_per_output(PowerFigure(100.0, "setting", SETTING_SOURCE), 100.0)
    assert not setting.measured and setting.label == "assumed, not measured"
    assert setting.serving_wh_per_mtok_output is None
    assert "assumed" in setting.attribution
    assert energy_cell(setting) == "278 (assumed)"
    missing = energy_per_output(UNKNOWN_POWER, 100.0)
    assert missing.wh_per_mtok_output is None and missing.why == UNKNOWN_POWER.source
    assert energy_cell(missing) == "n/a"
    assert energy_lines(missing) == [f"energy: not available ({UNKNOWN_POWER.source})"]


# -- what bench show, compare and the Dashboard print ------------------------------------------


def test_cost_lines_carry_the_basis_and_the_serving_share() -> None:
    power = PowerFigure(
        300.0, "sampled", "sampled power, integrated: NVIDIA GPU 0 power draw, 61 readings, 60 s",
        60.0, 50.0, 12.0,
    )  # fmt: skip
    inputs = CostInputs(0.15, watts=power.watts, watts_source=power.source)
    lines = cost_lines(run_cost(replace(inputs, power=power), 100.0, 0.0, 0.0))
    assert lines[-2] == (
        "energy: 833.3 Wh per 1M output tokens, 833.3 per 1M in+out, whole run with its idle "
        "gaps (sampled power, integrated: NVIDIA GPU 0 power draw, 61 readings, 60 s)"
    )
    assert lines[-1].startswith("energy, serving share: 805.6 Wh per 1M output tokens (idle 50 W")
    # watts and source alone (no idle readings came with them): the whole-run line only
    alone = cost_lines(run_cost(inputs, 100.0, 0.0, 0.0))
    assert alone[-1] == lines[-2]


def test_a_setting_reads_as_assumed_and_no_power_reads_as_not_available() -> None:
    setting = CostInputs(0.15, watts=100.0, watts_source=SETTING_SOURCE)
    line = cost_lines(run_cost(setting, 100.0, 0.0, 0.0))[-1]
    assert line.startswith("energy: 277.8 Wh per 1M output tokens") and "not measured" in line
    nothing = CostInputs(0.15, watts=None, watts_source=UNKNOWN_POWER.source)
    lines = cost_lines(run_cost(nothing, 100.0, 0.0, 0.0))
    assert lines == [
        "cost: unknown: set cost.power_w (power) or a rental/purchase price",
        f"energy: not available ({UNKNOWN_POWER.source})",
    ]


def test_a_stored_tdp_figure_says_it_was_not_measured() -> None:
    old = PowerFigure(575.0, "tdp", "TDP from GPU facts (RTX 5090, table 2025-01-01); not measured")
    inputs = CostInputs(0.15, watts=575.0, watts_source=old.source, power=old)
    lines = energy_lines(run_cost(inputs, 100.0, 0.0, 0.0).energy)  # type: ignore[arg-type]
    assert "(assumed, not measured: TDP from GPU facts" in lines[0]
    assert lines[1] == (
        "energy, serving share: not available (the power is assumed, so there is no idle reading)"
    )


def test_the_dashboard_line_says_what_its_minute_rests_on() -> None:
    sampled = PowerFigure(120.0, "sampled", "sampled power, integrated: NVIDIA GPU 0, 60 s")
    line = live_energy_line(sampled, 50.0, "the last minute")
    assert line == ("energy: 666.7 Wh/1M output tokens (sampled power, integrated; idle included)")
    assert len(line) <= 78, "one line of the Dashboard at 80 columns"
    setting = live_energy_line(PowerFigure(100.0, "setting", SETTING_SOURCE), 50.0, "x")
    assert setting == "energy: 555.6 Wh/1M output tokens (assumed, not measured; idle included)"
    assert live_energy_line(sampled, 0.0, "the last minute") == (
        "energy: not available (no output tokens in the last minute)"
    )
    for rate in (50.0, 0.0):
        assert live_energy_line(UNKNOWN_POWER, rate, "the last minute") == (
            "energy: not available (no energy counter, no power reading, no cost.power_w)"
        )
