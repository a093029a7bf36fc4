"""`hostbench tune MODEL`: measure llama.cpp settings for MODEL on this machine within a
time budget and store the best as a tuned profile that `launch` then uses (README
"Tuning"). Progress goes to stderr; Ctrl-C stops the engine being measured and writes
nothing."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence

from app.cli.bench_progress import _Line
from app.cli.context import CliContext
from app.cli.exit_codes import CliUsageError
from app.cli.output import note, print_json, print_table
from app.cli.tune_format import bar_chart, outcome_dict, step_text, summary_lines, trial_rows
from control.requests import absolute_model
from errors import ExitCode
from workflows.tuning.knobs import ORDER
from workflows.tuning.search import Step
from workflows.tuning.tuner import TuneRequest, tune

DEFAULT_MODEL = "smollm2-135m-instruct"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hostbench tune",
        description="Measure llama.cpp settings for MODEL on this machine, one at a time "
        "against the best so far, and store the best as a tuned profile for launch.",
    )
    parser.add_argument("model", nargs="?", default=DEFAULT_MODEL, help="model to tune for")
    parser.add_argument(
        "--concurrency", type=int, default=8, help="streams to tune for besides one (default 8)"
    )
    parser.add_argument(
        "--budget", type=float, default=180.0, help="seconds to spend (default 180)"
    )
    parser.add_argument(
        "--settings",
        help=f"comma-separated settings to try (default: all that apply): {', '.join(ORDER)}",
    )
    parser.add_argument("--input-len", type=int, default=32, help="prompt tokens per request")
    parser.add_argument("--output-len", type=int, default=32, help="answer tokens per request")
    parser.add_argument("--json", action="store_true", help="the outcome as JSON on stdout")
    return parser


def _only(settings: str | None) -> tuple[str, ...] | None:
    """--settings as names; None when not given. Given but empty is refused: it once meant
    every setting, minutes of measuring nobody asked for."""
    if settings is None:
        return None
    names = tuple(s.strip() for s in settings.split(",") if s.strip())
    if not names:
        raise CliUsageError(f"--settings {settings!r}: name at least one of {', '.join(ORDER)}")
    return names


def _request(args: argparse.Namespace) -> TuneRequest:
    only = _only(args.settings)
    return TuneRequest(
        absolute_model(args.model),
        args.concurrency,
        args.budget,
        only,
        args.input_len,
        args.output_len,
    )


def run(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(argv)
    request = _request(args)
    ctx = CliContext.from_args(args)
    line = _Line(None, 0.1, 0.0)

    def report(step: Step) -> None:
        line.show(step_text(step), final=True)  # every step and phase: they are seconds apart

    note(f"tuning {request.model} for 1 and {request.concurrency} streams within "
         f"{request.budget_s:.0f} s (Ctrl-C stops; nothing is written then)")  # fmt: skip
    outcome = asyncio.run(tune(ctx.settings, ctx.locations, ctx.open_store(), request, report))
    if args.json:
        print_json(outcome_dict(outcome))
        return ExitCode.OK
    rows = trial_rows(outcome)
    if rows:
        print_table(rows, list(rows[0]))
        print()
    print("\n".join(bar_chart(outcome)))
    print()
    print("\n".join(summary_lines(outcome)))
    return ExitCode.OK
