"""`hostbench bench --ab [MODEL] [--engines A,B | --draft-model D | --quants A,B]`: the
same bench on two engines (or one engine with and without a draft, or on two quantizations
of the model), printed side by side. The work is workflows.ab's; this module starts each
arm in a child `hostbench launch` and prints."""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from app.background import BackgroundServer, BackgroundServerError
from app.cli.bench_format import describe_prompts
from app.cli.bench_progress import RequestProgressBar
from app.cli.context import CliContext
from app.cli.output import format_table, note, print_json
from app.display.numbers import num
from bench.ab import LevelComparison
from bench.errors import BenchUnavailableError, BenchUsageError
from bench.session import BenchPlan
from catalog.quant_types import quant_type
from engines.process import free_port
from errors import ExitCode
from storage import Store
from workflows.ab import (
    AbHooks,
    AbPlan,
    AbResult,
    AbSetting,
    ArmResult,
    Served,
    parse_pair,
    parse_quants,
    plan_ab,
    plan_draft_ab,
    plan_quant_ab,
    run_ab,
)
from workflows.benchmarking import PromptSpec, effective_cost
from workflows.launching import LaunchOrder


def launch_args(order: LaunchOrder) -> list[str]:
    """`hostbench launch` arguments for one arm."""
    args = [order.model]
    args += ["--engine", order.engine] if order.engine else []
    args += ["--profile", order.profile] if order.profile else []
    for name, value in order.options.items():
        args += ["--" + name.replace("_", "-"), str(value)]
    return args


def log_name(order: LaunchOrder) -> str:
    """One log file per arm: the two arms of a draft or quantization A/B share an engine."""
    slug = re.sub(r"[^A-Za-z0-9._]+", "-", " ".join(launch_args(order))).strip("-.")
    return f"ab-{slug[:150]}.stderr"


def background(ctx: CliContext) -> Callable[[LaunchOrder], AbstractContextManager[Served]]:
    """Each arm in its own `hostbench launch` child on a free port, stopped after its run."""

    @contextmanager
    def serve(order: LaunchOrder) -> Iterator[Served]:
        log = ctx.locations.logs_dir / "bench" / log_name(order)
        server = BackgroundServer(launch_args(order), free_port(), log)
        try:
            try:
                ready = server.wait_engine()
            except BackgroundServerError as error:
                raise BenchUnavailableError(
                    f"could not start {order.model} on {order.profile or order.engine}: {error}"
                ) from None
            note(f"{ready.name} ready ({ready.engine} via {ready.runtime})")
            yield ready, f"{server.base_url}/v1"
        finally:
            server.stop()

    return serve


def run(
    ctx: CliContext, args: argparse.Namespace, model: str, plan: BenchPlan, spec: PromptSpec
) -> int:
    if args.endpoint is not None:
        raise BenchUsageError("--ab starts each engine itself; it does not take --endpoint")
    store = ctx.open_store()
    ab = _plan(ctx, args, model, store, users=max(plan.concurrencies))
    for arm in ab.skipped:
        note(f"{arm.name} is left out: it cannot run {model} here: {arm.why}")
    hooks = AbHooks(serve=background(ctx), progress=lambda _arm: RequestProgressBar(), note=note)
    cost = effective_cost(ctx.settings, ctx.locations).cost
    setting = AbSetting(ctx.settings, ctx.locations, store, cost)
    result = run_ab(ab, plan, spec, setting, hooks)
    if args.json:
        print_json(result_json(result))
    else:
        print(comparison_text(result))
        note("`hostbench bench diff RUN RUN` compares two of these runs in full")
    runs = [run for arm in result.arms for run in arm.runs]
    return ExitCode.ERROR if any(r.metrics.completed == 0 for r in runs) else ExitCode.OK


def _plan(
    ctx: CliContext, args: argparse.Namespace, model: str, store: Store, users: int
) -> AbPlan:
    if args.quants is not None:
        if args.engines is not None or args.draft_model is not None:
            raise BenchUsageError("--quants compares two quantizations on one engine: give "
                                  "--engine, not --engines or --draft-model")  # fmt: skip
        return plan_quant_ab(
            model, parse_quants(args.quants), ctx.settings, ctx.locations, store,
            engine=args.engine, users=users,
        )  # fmt: skip
    if args.draft_model is not None:
        if args.engines is not None:
            raise BenchUsageError("--draft-model compares one engine with and without a "
                                  "draft: give --engine, not --engines")  # fmt: skip
        return plan_draft_ab(
            model, args.draft_model, ctx.settings, ctx.locations, store,
            engine=args.engine, users=users,
        )  # fmt: skip
    if args.engine:
        raise BenchUsageError(
            "--engine goes with --draft-model or --quants; an engine A/B takes --engines"
        )
    pair = parse_pair(args.engines) if args.engines is not None else None
    return plan_ab(model, ctx.settings, ctx.locations, store, pair=pair, users=users)


def draft_lines(result: AbResult) -> list[str]:
    """The draft's acceptance per arm, and whether it paid: B's output tok/s over A's."""
    lines = [
        f"{arm.label}: draft acceptance {arm.acceptance.text()}"
        for arm in result.arms
        if arm.acceptance is not None and arm.acceptance.drafted
    ]
    if result.plan.draft is None:
        return lines
    for concurrency, speed in speed_ups(result):
        if speed is None:
            lines.append(f"conc {concurrency}: no speed-up measured (no output tok/s)")
            continue
        verdict = "the draft pays" if speed > 1 else "the draft does not pay here"
        lines.append(f"conc {concurrency}: speed-up {speed:.2f}x (out tok/s B/A): {verdict}")
    return lines


def speed_ups(result: AbResult) -> list[tuple[int, float | None]]:
    """(concurrency, B's output tok/s over A's) per level; None where either has none."""
    return [(level.concurrency, level.metrics[0].b_over_a) for level in result.levels]


def quant_lines(result: AbResult) -> list[str]:
    """Each quantization's quality as llama.cpp states it, and B's speed against A's."""
    if result.plan.quants is None:
        return []
    lines = []
    for arm in result.arms:
        known = quant_type(arm.arm.name)
        lines.append(
            f"{arm.label}: {known.name}: llama.cpp's figures: "
            f"{known.bits_per_weight:.2f} bits per weight, {known.quality}"
        )
    a, b = result.plan.quants
    for concurrency, speed in speed_ups(result):
        if speed is None:
            lines.append(f"conc {concurrency}: no speed measured (no output tok/s)")
        else:
            lines.append(f"conc {concurrency}: {b} gives {speed:.2f}x the output tok/s of {a}")
    return lines


def arm_line(arm: ArmResult) -> str:
    engine = arm.status.engine
    runs = ", ".join(str(r.id) for r in arm.runs)
    return (
        f"{arm.label}: {arm.arm.name} = {engine} via {arm.status.runtime} "
        f"({arm.version or 'version unknown'}), runs {runs}"
    )


def level_rows(levels: list[LevelComparison]) -> list[dict[str, Any]]:
    rows = []
    for level in levels:
        for metric in level.metrics:
            ratio = metric.b_over_a
            rows.append(
                {
                    "conc": level.concurrency,
                    "metric": metric.label,
                    "a": num(metric.a, 2),
                    "b": num(metric.b, 2),
                    "b/a": "-" if ratio is None else f"{ratio:.2f}",
                }
            )
    return rows


def comparison_text(result: AbResult) -> str:
    first = result.arms[0].runs[0]
    return "\n".join(
        [
            f"A/B {result.plan.id} of {result.plan.model}: the same prompts on both",
            f"prompts: {describe_prompts(first)}, by A",
            *(arm_line(arm) for arm in result.arms),
            "",
            format_table(level_rows(result.levels), ("conc", "metric", "a", "b", "b/a")),
            "",
            "B/A above 1: B is higher (better for tok/s, worse for ttft and tpot)",
            *draft_lines(result),
            *quant_lines(result),
        ]
    )


def result_json(result: AbResult) -> dict[str, Any]:
    return {
        "id": result.plan.id,
        "model": result.plan.model,
        "prompts": result.arms[0].runs[0].prompts,
        "arms": [
            {
                "arm": arm.label,
                "name": arm.arm.name,
                "engine": arm.status.engine,
                "runtime": arm.status.runtime,
                "version": arm.version,
                "runs": [r.id for r in arm.runs],
                "acceptance": arm.acceptance.as_dict() if arm.acceptance else None,
            }
            for arm in result.arms
        ],
        "draft": result.plan.draft,
        "quants": result.plan.quants,
        "left_out": [{"engine": a.name, "why": a.why} for a in result.plan.skipped],
        "recommendation": result.plan.recommendation.as_dict(),
        "levels": [level.as_dict() for level in result.levels],
    }
