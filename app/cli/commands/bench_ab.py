"""`hostbench bench --ab [MODEL] [--engines A,B]`: the same bench on two engines, printed
side by side. The work is engines.ab's; this module starts each engine in a child
`hostbench launch` and prints."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from app.background import BackgroundServer, BackgroundServerError
from app.cli.bench_format import describe_prompts, num
from app.cli.bench_progress import RequestProgressBar
from app.cli.context import CliContext
from app.cli.exit_codes import ExitCode
from app.cli.output import format_table, note, print_json
from bench.ab import LevelComparison
from bench.errors import BenchUnavailableError, BenchUsageError
from bench.session import BenchPlan
from engines.ab import (
    AbHooks,
    AbResult,
    AbSetting,
    ArmResult,
    Served,
    parse_pair,
    plan_ab,
    run_ab,
)
from engines.benchmarking import PromptSpec, effective_cost
from engines.launching import LaunchOrder
from engines.process import free_port


def launch_args(order: LaunchOrder) -> list[str]:
    """`hostbench launch` arguments for one arm."""
    args = [order.model]
    args += ["--engine", order.engine] if order.engine else []
    args += ["--profile", order.profile] if order.profile else []
    return args


def background(ctx: CliContext) -> Callable[[LaunchOrder], AbstractContextManager[Served]]:
    """Each arm in its own `hostbench launch` child on a free port, stopped after its run."""

    @contextmanager
    def serve(order: LaunchOrder) -> Iterator[Served]:
        log = ctx.locations.logs_dir / "bench" / f"ab-{order.profile or order.engine}.stderr"
        server = BackgroundServer(launch_args(order), free_port(), log)
        try:
            try:
                ready = server.wait_ready()
            except BackgroundServerError as error:
                raise BenchUnavailableError(
                    f"could not start {order.model} on {order.profile or order.engine}: {error}"
                ) from None
            note(f"{ready['name']} ready ({ready['engine']} via {ready['runtime']})")
            yield ready, f"{server.base_url}/v1"
        finally:
            server.stop()

    return serve


def run(
    ctx: CliContext, args: argparse.Namespace, model: str, plan: BenchPlan, spec: PromptSpec
) -> int:
    if args.endpoint:
        raise BenchUsageError("--ab starts each engine itself; it does not take --endpoint")
    pair = parse_pair(args.engines) if args.engines else None
    store = ctx.open_store()
    users = max(plan.concurrencies)
    ab = plan_ab(model, ctx.settings, ctx.locations, store, pair=pair, users=users)
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


def arm_line(arm: ArmResult) -> str:
    engine = arm.status.get("engine")
    runs = ", ".join(str(r.id) for r in arm.runs)
    return (
        f"{arm.label}: {arm.arm.name} = {engine} via {arm.status.get('runtime')} "
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
                "engine": arm.status.get("engine"),
                "runtime": arm.status.get("runtime"),
                "version": arm.version,
                "runs": [r.id for r in arm.runs],
            }
            for arm in result.arms
        ],
        "left_out": [{"engine": a.name, "why": a.why} for a in result.plan.skipped],
        "recommendation": result.plan.recommendation.as_dict(),
        "levels": [level.as_dict() for level in result.levels],
    }
