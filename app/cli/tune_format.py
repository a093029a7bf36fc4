"""What `hostbench tune` prints: the trials as a table, the settings' effect as a small
text bar chart, and the outcome as JSON. Formatting only; the figures are the tuner's."""

from __future__ import annotations

from typing import Any

from catalog import ModelRef
from workflows.tuning.search import CONFIRM, Reading, Step
from workflows.tuning.tuner import TuneOutcome

BAR_WIDTH = 28


def step_text(step: Step) -> str:
    """`[3/12] parallel: parallel=8 - 41 s elapsed, 139 s of the budget left`."""
    phase = f" ({step.phase})" if step.phase else ""
    return (
        f"[{step.done + 1}/{step.total}] {step.doing}{phase} - {step.elapsed_s:.0f} s elapsed, "
        f"{step.left_s:.0f} s of the budget left"
    )


def _tok_s(reading: Reading, streams: int) -> str:
    value = reading.tok_s.get(streams)
    return "-" if value is None else f"{value:.1f}"


def _pair(incumbent: Reading, candidate: Reading, streams: int) -> str:
    return f"{_tok_s(incumbent, streams)} -> {_tok_s(candidate, streams)}"


def trial_rows(outcome: TuneOutcome) -> list[dict[str, Any]]:
    one, many = outcome.loads
    rows = []
    for trial in outcome.result.trials:
        rows.append({
            "setting": trial.setting,
            "tried": ", ".join(f"{k}={v}" for k, v in trial.change.items()),
            f"{one} stream": _pair(trial.incumbent, trial.candidate, one),
            f"{many} streams": _pair(trial.incumbent, trial.candidate, many),
            "kept": "yes" if trial.kept else "no",
            "why": trial.why,
        })  # fmt: skip
    return rows


def bar_chart(outcome: TuneOutcome) -> list[str]:
    """Output tok/s at each load: the default, every candidate tried, the tuned best."""
    result = outcome.result
    entries = [("default", result.summary(result.start))]
    entries += [
        (", ".join(f"{k}={v}" for k, v in t.change.items()) + (" *" if t.kept else ""), t.candidate)
        for t in result.trials
        if t.setting != CONFIRM  # its figures are the default's and the tuned settings'
    ]
    entries.append(("tuned", result.summary(result.best)))
    width = max(len(label) for label, _ in entries)
    lines = []
    for streams in outcome.loads:
        top = max((r.tok_s.get(streams, 0.0) for _, r in entries), default=0.0) or 1.0
        lines.append(f"{streams} stream{'s' if streams > 1 else ''}, output tok/s")
        for label, reading in entries:
            value = reading.tok_s.get(streams)
            bar = "#" * round(BAR_WIDTH * (value or 0.0) / top)
            shown = "failed" if value is None else f"{value:6.1f}"
            lines.append(f"  {label.ljust(width)} {bar.ljust(BAR_WIDTH)} {shown}")
    return [*lines, "  (* kept)"]


def summary_lines(outcome: TuneOutcome) -> list[str]:
    record = outcome.record
    loads = ", ".join(
        f"{n} stream{'s' if n != '1' else ''} {record.default_tok_s.get(n, 0):.1f} -> "
        f"{record.best_tok_s.get(n, 0):.1f} tok/s"
        for n in record.best_tok_s
    )
    chosen = ", ".join(f"{k}={v}" for k, v in outcome.options.items()) or "the defaults"
    kept_any = outcome.result.best != outcome.result.start
    lines = [
        f"default -> tuned: {loads}",
        *_confirmation(outcome),
        f"tuned settings: {chosen}" if kept_any else f"settings written (the defaults): {chosen}",
        f"profile {outcome.profile} written to {outcome.path} ({record.elapsed_s:.0f} s); "
        f"`hostbench launch {outcome.model}` uses it from now on",
    ]
    return lines + [f"not tried: {why}" for why in record.skipped] + _weights_type(record.model)


def _weights_type(model_id: str) -> list[str]:
    """The one thing the tuner cannot change, and the command that measures it."""
    ref = ModelRef.parse(model_id)
    if ref.quant is None:
        return []
    return [
        f"not a launch setting: the weights' type ({ref.quant}); `hostbench bench "
        f"{ref.model_id} --quants {ref.quant},TYPE` measures another type against it"
    ]


def _confirmation(outcome: TuneOutcome) -> list[str]:
    """What measuring the best against the default once more said, where it was done."""
    confirm = [t for t in outcome.result.trials if t.setting == CONFIRM]
    if not confirm:
        return []
    trial = confirm[-1]
    if trial.kept:
        return [f"measured again against the default: {trial.why}"]
    return [f"measured again, the best did not hold up ({trial.why}): the defaults stay"]


def outcome_dict(outcome: TuneOutcome) -> dict[str, Any]:
    return {
        "model": outcome.model,
        "profile": outcome.profile,
        "path": str(outcome.path),
        "options": outcome.options,
        **outcome.record.model_dump(),
    }
