"""The tuner's search over recorded measurement sequences: which candidate is kept, how
the noise is measured, and that the budget stops the search with the best so far.

The sequences are output tok/s at 1 and 8 streams as `hostbench tune` recorded them on
the 2-core test machine (smollm2-135m-instruct, shared with other jobs), replayed in the
order the search asks for them; a fake clock advances by each measurement's duration."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from workflows.tuning.knobs import Machine, plan_settings
from workflows.tuning.search import (
    CONFIRM,
    MIN_NOISE,
    Budget,
    DefaultFailed,
    Descent,
    Reading,
    Setting,
    key_of,
    noise_of,
    relative_spread,
    verdict,
)

START = {"parallel": 4, "flash_attn": "auto", "threads": None}


class Replay:
    """Measurements in the order asked, each taking `seconds` on the fake clock."""

    def __init__(self, sequence: Sequence[tuple[Mapping[str, Any], Reading]], seconds: float):
        self.sequence = list(sequence)
        self.seconds = seconds
        self.now = 0.0
        self.asked: list[dict[str, Any]] = []

    def clock(self) -> float:
        return self.now

    async def __call__(self, options: Mapping[str, Any]) -> Reading:
        expected, reading = self.sequence.pop(0)
        assert dict(options) == {**START, **expected}, "the search asked out of order"
        self.asked.append(dict(options))
        self.now += self.seconds
        return reading


def r(one: float, eight: float) -> Reading:
    return Reading({1: one, 8: eight}, {1: 50.0, 8: 900.0})


def run(replay: Replay, settings: list[Setting], budget_s: float = 1000.0):
    descent = Descent(replay, Budget(budget_s, replay.clock), (1, 8))
    return asyncio.run(descent.run(START, settings)), descent


SLOTS = Setting("parallel", ({"parallel": 8},))
FLASH = Setting("flash_attn", ({"flash_attn": "on"}, {"flash_attn": "off"}))


def test_a_candidate_faster_beyond_the_noise_is_kept_and_becomes_the_incumbent() -> None:
    replay = Replay(
        [
            ({}, r(40.0, 90.0)),
            ({}, r(41.0, 92.0)),  # default twice: ~2.5 % spread at 1 stream
            ({}, r(40.5, 91.0)),  # incumbent, then the candidate, in the same run
            ({"parallel": 8}, r(40.2, 130.0)),
            ({"parallel": 8}, r(40.0, 128.0)),  # the new incumbent is measured next
            ({"parallel": 8, "flash_attn": "on"}, r(39.8, 127.0)),
            ({"parallel": 8}, r(40.1, 129.0)),
            ({"parallel": 8, "flash_attn": "off"}, r(30.0, 110.0)),
            ({}, r(40.3, 90.5)),  # confirming: the default, then the best, once more
            ({"parallel": 8}, r(40.1, 128.5)),
        ],
        seconds=10,
    )
    result, _ = run(replay, [SLOTS, FLASH])
    assert result.best == {**START, "parallel": 8}
    assert [t.kept for t in result.trials] == [True, False, False, True]
    assert result.trials[0].why.startswith("faster")
    assert result.trials[1].why.startswith("within noise")
    assert result.trials[2].why.startswith("slower")
    confirm = result.trials[3]
    assert (confirm.setting, dict(confirm.change)) == (CONFIRM, {"parallel": 8})
    assert confirm.incumbent.tok_s[8] == pytest.approx(90.5), "the pair just measured"
    assert confirm.why.startswith("faster")
    assert result.stopped is None and not replay.sequence
    assert result.summary(result.best).tok_s[8] == pytest.approx(128.75)


def test_a_candidate_that_does_not_hold_up_when_measured_again_is_dropped() -> None:
    """It won its round at 130 tok/s while the machine was quiet for it, then measured 60
    right after the default's 88: the tuned profile keeps the default."""
    replay = Replay(
        [
            ({}, r(40.0, 90.0)),
            ({}, r(40.0, 90.0)),
            ({}, r(40.0, 90.0)),
            ({"parallel": 8}, r(40.0, 130.0)),
            ({}, r(40.0, 88.0)),
            ({"parallel": 8}, r(40.0, 60.0)),
        ],
        seconds=10,
    )
    result, _ = run(replay, [SLOTS])
    assert [t.kept for t in result.trials] == [True, False]
    assert result.trials[1].setting == CONFIRM
    assert result.trials[1].why.startswith("within noise"), "its own spread is the noise now"
    assert result.best == START


def test_nothing_changed_needs_no_confirmation() -> None:
    replay = Replay(
        [
            ({}, r(40.0, 90.0)),
            ({}, r(40.0, 90.0)),
            ({}, r(40.0, 90.0)),
            ({"parallel": 8}, r(30.0, 60.0)),
        ],
        seconds=10,
    )
    result, _ = run(replay, [SLOTS])
    assert [t.setting for t in result.trials] == ["parallel"] and not replay.sequence


def test_a_gain_smaller_than_the_measured_spread_is_not_kept() -> None:
    """The default measured 80 and 100 at 8 streams: a 10 % gain is inside that noise."""
    replay = Replay(
        [
            ({}, r(40.0, 80.0)),
            ({}, r(40.0, 100.0)),
            ({}, r(40.0, 90.0)),
            ({"parallel": 8}, r(40.0, 99.0)),
        ],
        seconds=10,
    )
    result, _ = run(replay, [SLOTS])
    assert result.best == START
    assert result.trials[0].noise[8] == pytest.approx(0.2 / 0.9, rel=1e-3)
    assert not result.trials[0].kept


def test_a_gain_at_one_load_with_a_loss_at_the_other_is_not_kept() -> None:
    replay = Replay(
        [
            ({}, r(40.0, 90.0)),
            ({}, r(40.0, 90.0)),
            ({}, r(40.0, 90.0)),
            ({"parallel": 8}, r(30.0, 130.0)),
        ],
        seconds=10,
    )
    result, _ = run(replay, [SLOTS])
    assert result.best == START and result.trials[0].why.startswith("slower")


def test_a_failed_candidate_never_wins() -> None:
    failed = Reading({}, error="llama-server exited with code 1 while loading")
    replay = Replay(
        [({}, r(40.0, 90.0)), ({}, r(40.0, 90.0)), ({}, r(40.0, 90.0)), ({"parallel": 8}, failed)],
        seconds=10,
    )
    result, _ = run(replay, [SLOTS])
    assert result.best == START and result.trials[0].why.startswith("failed")


def test_the_budget_stops_the_search_and_keeps_the_best_so_far() -> None:
    """60 s budget, 10 s per measurement: the defaults (2) and one trial (2) fit with room
    to confirm (2) after it; a second trial would leave no room, so it is not started."""
    replay = Replay(
        [
            ({}, r(40.0, 90.0)),
            ({}, r(40.0, 90.0)),
            ({}, r(40.0, 90.0)),
            ({"parallel": 8}, r(40.0, 130.0)),
            ({}, r(40.0, 90.0)),
            ({"parallel": 8}, r(40.0, 129.0)),
        ],
        seconds=10,
    )
    result, descent = run(replay, [SLOTS, FLASH], budget_s=60)
    assert result.best == {**START, "parallel": 8}
    assert [t.setting for t in result.trials] == ["parallel", CONFIRM] and not replay.sequence
    assert result.stopped is not None and "flash_attn" in result.stopped
    assert descent.budget.elapsed_s <= 60


def test_a_default_that_never_runs_is_refused() -> None:
    failed = Reading({}, error="llama-server exited with code 1 while loading")
    replay = Replay([({}, failed), ({}, failed)], seconds=1)
    with pytest.raises(DefaultFailed, match="code 1"):
        run(replay, [SLOTS])


def test_noise_is_the_largest_relative_spread_with_a_floor() -> None:
    readings = {
        key_of({"a": 1}): [r(40.0, 90.0), r(44.0, 90.0)],
        key_of({"a": 2}): [r(40.0, 100.0)],
    }
    assert noise_of(readings, (1, 8)) == {1: pytest.approx(4 / 42), 8: MIN_NOISE}
    assert relative_spread([5.0]) == 0.0


def test_verdict_wording_names_each_load() -> None:
    kept, why = verdict(r(44.0, 99.0), r(40.0, 90.0), {1: 0.05, 8: 0.05})
    assert kept and why == "faster: 1x +10% (noise 5%), 8x +10% (noise 5%)"


def test_settings_skip_what_cannot_apply_on_a_cpu() -> None:
    start = {
        **{"parallel": 4, "threads": None, "threads_batch": None, "flash_attn": "auto"},
        **{"cache_type_k": "f16", "cache_type_v": "f16", "batch_size": 2048, "ubatch_size": 512},
    }
    settings, skipped = plan_settings(start, Machine(2, 2, 0), 8)
    names = [s.name for s in settings]
    assert names == ["parallel", "threads", "flash_attn", "kv_cache", "ubatch_size", "batch_size"]
    assert settings[0].changes == ({"parallel": 8}, {"parallel": 16})
    assert settings[1].changes == ({"threads": 1},)
    assert any(s.startswith("offload: no GPU") for s in skipped)
    assert any(s.startswith("threads_batch:") for s in skipped)


def test_from_the_cpu_profiles_small_batch_the_tuner_tries_llama_cpps_own() -> None:
    start = {"batch_size": 64, "ubatch_size": 64, "cache_type_v": "q8_0", "flash_attn": "auto"}
    settings, _ = plan_settings(start, Machine(2, 2, 0), 8, ["batch_size", "ubatch_size"])
    changes = {s.name: s.changes for s in settings}
    assert changes["batch_size"] == ({"batch_size": 2048},)
    assert changes["ubatch_size"] == ({"ubatch_size": 32},)


def test_a_quantized_v_cache_leaves_no_flash_attention_value_to_measure() -> None:
    """`on` is the only value that launches with it, and `auto` is on wherever it does (a
    run on the test VM measured `on` against `auto`: the same launch, twice)."""
    start = {"cache_type_v": "q8_0", "flash_attn": "auto"}
    settings, skipped = plan_settings(start, Machine(2, 2, 0), 8, ["flash_attn", "kv_cache"])
    assert [s.name for s in settings] == ["kv_cache"]
    assert skipped == ["flash_attn: a quantized V cache needs it on, and it is"]


def test_unknown_setting_names_the_choices() -> None:
    with pytest.raises(ValueError, match="unknown setting 'thread'; choose from parallel"):
        plan_settings({}, Machine(2, 2, 0), 8, ["thread"])


def test_a_budget_with_room_for_one_measurement_keeps_the_default() -> None:
    """On a loaded machine the first measurement took 111 s of a 180 s budget: a second
    would not fit, so nothing else starts and the default is what is kept."""
    replay = Replay([({}, r(1.9, 5.1))], seconds=111)
    result, descent = run(replay, [SLOTS, FLASH], budget_s=180)
    assert result.best == START and result.trials == []
    assert result.stopped == (
        "the budget (180 s) ran out after one measurement of the default before: "
        "parallel, flash_attn"
    )
    assert descent.budget.elapsed_s == 111


def test_a_failed_default_with_room_for_one_measurement_is_refused_as_failed() -> None:
    failed = Reading({}, error="1 request(s) failed: HTTP 500")
    replay = Replay([({}, failed)], seconds=100)
    with pytest.raises(DefaultFailed, match="HTTP 500"):
        run(replay, [SLOTS], budget_s=150)


def test_more_tokens_per_second_with_a_much_later_first_token_is_not_kept() -> None:
    """Recorded on the 2-core VM: 4 slots for 8 streams, +2 % tok/s, TTFT p50 550 -> 1823 ms."""
    eight_slots = Reading({1: 143.5, 8: 164.7}, {1: 77.7, 8: 549.6})
    four_slots = Reading({1: 148.5, 8: 168.0}, {1: 74.5, 8: 1822.8})
    kept, why = verdict(four_slots, eight_slots, {1: 0.02, 8: 0.01})
    assert not kept
    assert why.startswith("first token later: 8x TTFT p50 550 -> 1823 ms")
    assert verdict(eight_slots, four_slots, {1: 0.05, 8: 0.05})[1].startswith("within noise")
