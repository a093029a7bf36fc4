"""What `hostbench tune` prints from an outcome: the trials table, the bar chart (a failed
candidate shown as failed, not as zero speed) and the summary lines."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from app.cli.tune_format import bar_chart, step_text, summary_lines, trial_rows
from profiles.tuned import TunedRecord
from workflows.tuning.search import CONFIRM, Reading, SearchResult, Step, Trial, key_of
from workflows.tuning.tuner import TuneOutcome

START = {"parallel": 4}
BEST = {"parallel": 8}


def outcome() -> TuneOutcome:
    default = [Reading({1: 2.1, 8: 3.2}), Reading({1: 2.7, 8: 2.5})]
    slots = Reading({1: 2.6, 8: 9.6})
    failed = Reading({}, error="llama-server exited with code 1 while loading")
    result = SearchResult(START, BEST, {key_of(START): default, key_of(BEST): [slots, slots]})
    noise = {1: 0.25, 8: 0.25}
    result.trials = [
        Trial("parallel", {"parallel": 8}, default[1], slots, noise, True, "faster: ..."),
        Trial("flash_attn", {"flash_attn": "on"}, slots, failed, noise, False, "failed: ..."),
    ]
    record = TunedRecord(
        model="m:Q4_1", date="2026-12-04T18:00:00+00:00", identity={}, concurrency=8,
        budget_s=300, elapsed_s=215.0, complete=False,
        default_tok_s={"1": 2.4, "8": 2.8}, best_tok_s={"1": 2.6, "8": 9.6},
        skipped=["offload: no GPU on this machine (CPU only)"],
    )  # fmt: skip
    return TuneOutcome("m", (1, 8), result, [], record, "tuned-m-q4_1", Path("/p.toml"), BEST)


def test_trials_table_shows_incumbent_to_candidate_per_load() -> None:
    rows = trial_rows(outcome())
    assert rows[0]["1 stream"] == "2.7 -> 2.6" and rows[0]["8 streams"] == "2.5 -> 9.6"
    assert rows[1]["8 streams"] == "9.6 -> -" and rows[1]["kept"] == "no"


def test_chart_scales_to_the_fastest_and_marks_failures() -> None:
    lines = bar_chart(outcome())
    eight = lines[lines.index("8 streams, output tok/s") + 1 :]
    assert eight[1].startswith("  parallel=8 *") and eight[1].count("#") == 28
    assert eight[2].rstrip().endswith("failed") and "#" not in eight[2]
    assert eight[0].startswith("  default") and eight[0].count("#") == round(28 * 2.85 / 9.6)


def test_summary_and_progress_lines() -> None:
    lines = summary_lines(outcome())
    assert lines[0] == "default -> tuned: 1 stream 2.4 -> 2.6 tok/s, 8 streams 2.8 -> 9.6 tok/s"
    assert lines[1] == "tuned settings: parallel=8"
    assert lines[-2] == "not tried: offload: no GPU on this machine (CPU only)"
    assert lines[-1] == (
        "not a launch setting: the weights' type (Q4_1); `hostbench bench m --quants "
        "Q4_1,TYPE` measures another type against it"
    )
    step = Step("parallel: parallel=8", 3, 20, 166.4, 133.6, phase="8 streams")
    assert step_text(step) == (
        "[4/20] parallel: parallel=8 (8 streams) - 166 s elapsed, 134 s of the budget left"
    )


def test_the_confirmation_is_a_row_and_a_summary_line_not_a_bar() -> None:
    found = outcome()
    confirm = Trial(CONFIRM, BEST, Reading({1: 2.4, 8: 2.8}), Reading({1: 2.6, 8: 2.9}),
                    {1: 0.25, 8: 0.25}, False, "within noise: 1x +8% (noise 25%)")  # fmt: skip
    found.result.trials.append(confirm)
    assert trial_rows(found)[-1]["setting"] == CONFIRM
    assert len(bar_chart(found)) == len(bar_chart(outcome()))
    lines = summary_lines(found)
    assert lines[1] == (
        "measured again, the best did not hold up (within noise: 1x +8% (noise 25%)): "
        "the defaults stay"
    )
    assert lines[2] == "tuned settings: parallel=8"


def test_settings_that_are_the_defaults_are_not_called_tuned() -> None:
    found = dataclasses.replace(outcome(), options=START)
    found.result.best = START
    assert summary_lines(found)[1] == "settings written (the defaults): parallel=4"
