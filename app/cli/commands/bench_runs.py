"""`hostbench bench list | show RUN | diff RUN RUN`: stored runs read back."""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from typing import Any

from app.cli.bench_format import LIST_COLUMNS, describe_prompts, list_rows, run_json
from app.cli.context import CliContext
from app.cli.output import format_table, note, print_json, print_table
from app.display.cost import cost_lines
from app.display.numbers import human_bytes, num
from bench.comparison import day
from bench.cost import run_cost
from bench.power import with_current_setting
from bench.report import describe_machine
from bench.runs import BenchRun, BenchRuns
from errors import ExitCode
from hardware import snapshot_from_dict
from profiles import CostDefaults
from workflows.bench_context import cost_inputs, no_bound_reason
from workflows.benchmarking import effective_cost


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hostbench bench", description="Stored bench runs.")
    sub = parser.add_subparsers(dest="which", required=True)
    listing = sub.add_parser("list", help="stored runs, newest first")
    listing.add_argument("--model", help="only runs of this model name")
    listing.add_argument("--limit", type=int, default=30)
    listing.add_argument("--json", action="store_true")
    show = sub.add_parser("show", help="one run with its context, percentiles and cost")
    show.add_argument("run", type=int)
    show.add_argument("--json", action="store_true")
    show.add_argument("--requests", action="store_true", help="with every request (--json)")
    show.add_argument("--profile", help="cost figures from this launch profile (default: matching)")
    diff = sub.add_parser("diff", help="two runs side by side, with the change")
    diff.add_argument("a", type=int)
    diff.add_argument("b", type=int)
    diff.add_argument("--json", action="store_true")
    return parser


def engine_lines(run: BenchRun) -> list[str]:
    engine = run.context.get("engine")
    if not engine:
        return [f"target: {run.target.get('base_url')} (model {run.label})"]
    options = ", ".join(f"{k}={v}" for k, v in sorted((engine.get("options") or {}).items()))
    sha = engine.get("model_sha256") or "?"
    return [
        f"engine: {engine.get('engine')} via {engine.get('runtime')} "
        f"({engine.get('version') or 'version unknown'})",
        *ab_lines(run.context.get("ab")),
        f"model: {engine.get('model_id')} ({engine.get('model_path')}), sha256 {sha}",
        f"options: {options}",
        *memory_lines(engine.get("memory")),
    ]


def memory_lines(memory: dict[str, Any] | None) -> list[str]:
    """The launch's memory estimate next to what the engine held (runs stored since the
    estimate was recorded)."""
    if not memory or memory.get("estimate_bytes") is None:
        return []
    line = f"memory: estimate {human_bytes(memory['estimate_bytes'])}"
    if memory.get("measured_bytes") is not None:
        line += f", measured {human_bytes(memory['measured_bytes'])}"
        if memory.get("error_percent") is not None:
            line += f" (estimate {memory['error_percent']:+.1f} %)"
    bases = [memory.get("estimate_basis"), memory.get("measured_basis")]
    return [f"{line} ({'; '.join(b for b in bases if b)})"]


def ab_lines(ab: dict[str, Any] | None) -> list[str]:
    """The A/B a run was an arm of; nothing for an ordinary run."""
    if not ab:
        return []
    return [f"a/b: arm {ab['arm']} ({ab['name']}) of A/B {ab['id']}: {' vs '.join(ab['pair'])}"]


def machine_line(run: BenchRun) -> str:
    hardware = run.context.get("hardware")
    try:
        return describe_machine(snapshot_from_dict(hardware)) if hardware else "unknown"
    except (KeyError, TypeError):
        return "unreadable snapshot"


def percentile_table(run: BenchRun) -> str:
    m = run.metrics
    rows = [
        {
            "metric": name,
            **{q: num(summary.get(q), 2) for q in ("mean", "p50", "p90", "p95", "p99")},
        }
        for name, summary in (
            ("ttft ms", m.ttft_ms),
            ("tpot ms", m.tpot_ms),
            ("itl ms", m.itl_ms),
            ("e2e ms", m.e2e_ms),
        )
    ]
    return format_table(rows, ("metric", "mean", "p50", "p90", "p95", "p99"))


def decode_line(run: BenchRun) -> str:
    rate, limit = run.metrics.decode_tokens_per_s, run.decode_limit
    if limit is None:
        return f"decode: {num(rate)} tok/s per stream (no bound: {no_bound_reason(run)})"
    return (
        f"decode: {num(rate)} tok/s per stream; bound {num(limit.bound_tokens_per_s)} tok/s "
        f"({num(limit.percent_of_bound(rate), 0)} % of it) = {limit.bandwidth_gbps:g} GB/s "
        f"({limit.bandwidth_source}) / {limit.bytes_per_step / 1e6:.1f} MB read per step "
        f"(weights + {limit.batch} x KV)"
    )


def show_text(run: BenchRun, cost_settings: CostDefaults) -> str:
    m = run.metrics
    power = with_current_setting(run.power, cost_settings.power_w)
    inputs = cost_inputs(cost_settings, power)
    cost = run_cost(inputs, m.output_throughput, run.input_tokens_per_s, run.prefill_share)
    rate = "all at once" if math.isinf(run.request_rate) else f"{run.request_rate:g}/s Poisson"
    goodput = f"; goodput {num(m.goodput, 2)} req/s under {m.slo}" if m.goodput is not None else ""
    lines = [
        f"run {run.id}: {run.label} on {run.target.get('base_url')}, {day(run.created_at)} "
        f"(group {run.group_id})",
        f"machine: {machine_line(run)}",
        *engine_lines(run),
        f"prompts: {describe_prompts(run)}",
        f"load: concurrency {run.concurrency}, arrivals {rate}; {m.completed} ok, "
        f"{m.failed} failed in {num(m.duration_s, 2)} s",
        "",
        percentile_table(run),
        "",
        f"throughput: {num(m.request_throughput, 3)} req/s, {num(m.output_throughput)} output "
        f"tok/s, {num(m.total_token_throughput)} total tok/s{goodput}",
        decode_line(run),
        f"power: {num(power.watts)} W ({power.source})",
        f"prompt share of machine time: {num(100 * run.prefill_share, 1)} % "
        f"({run.prefill.get('source')})",
        *cost_lines(cost),
    ]
    lines += [f"error: {e}" for e in m.errors]
    return "\n".join(lines)


DIFF_FIELDS = (
    ("completed", lambda r: r.metrics.completed),
    ("output tok/s", lambda r: r.metrics.output_throughput),
    ("total tok/s", lambda r: r.metrics.total_token_throughput),
    ("req/s", lambda r: r.metrics.request_throughput),
    ("decode tok/s/stream", lambda r: r.metrics.decode_tokens_per_s),
    ("ttft p50 ms", lambda r: r.metrics.ttft_ms.get("p50")),
    ("ttft p99 ms", lambda r: r.metrics.ttft_ms.get("p99")),
    ("tpot p50 ms", lambda r: r.metrics.tpot_ms.get("p50")),
    ("tpot p99 ms", lambda r: r.metrics.tpot_ms.get("p99")),
    ("itl p50 ms", lambda r: r.metrics.itl_ms.get("p50")),
    ("e2e p50 ms", lambda r: r.metrics.e2e_ms.get("p50")),
    ("e2e p99 ms", lambda r: r.metrics.e2e_ms.get("p99")),
    ("watts", lambda r: r.power.watts),
)


def diff_rows(a: BenchRun, b: BenchRun) -> list[dict[str, Any]]:
    rows = []
    for name, read in DIFF_FIELDS:
        va, vb = read(a), read(b)
        change = "-"
        if va and vb is not None and math.isfinite(va) and math.isfinite(vb):
            change = f"{100 * (vb - va) / va:+.1f} %"
        rows.append(
            {"metric": name, f"run {a.id}": num(va, 2), f"run {b.id}": num(vb, 2), "change": change}
        )
    return rows


def context_changes(a: BenchRun, b: BenchRun) -> list[str]:
    """What differs in how the two runs were made (options, engine, prompts, load)."""
    changes = []
    pairs = (
        ("concurrency", a.concurrency, b.concurrency),
        ("prompts", a.prompts, b.prompts),
        ("engine", a.context.get("engine"), b.context.get("engine")),
    )
    for name, va, vb in pairs:
        if va != vb:
            changes.append(f"{name}: {_changed(va, vb)}")
    return changes


def _changed(va: Any, vb: Any) -> str:
    if isinstance(va, dict) and isinstance(vb, dict):
        keys = sorted(k for k in set(va) | set(vb) if va.get(k) != vb.get(k))
        return "; ".join(f"{k} {va.get(k)!r} -> {vb.get(k)!r}" for k in keys)
    return f"{va!r} -> {vb!r}"


def run(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(argv)
    ctx = CliContext.from_args(args)
    runs = BenchRuns(ctx.open_store())
    if args.which == "list":
        found = runs.recent(label=args.model, limit=args.limit)
        if args.json:
            print_json([run_json(r) for r in found])
        elif found:
            print_table(list_rows(found), LIST_COLUMNS)
        else:
            note("no stored bench runs yet: `hostbench bench MODEL --concurrency 1,4,8`")
        return ExitCode.OK
    if args.which == "show":
        found_run = runs.get(args.run)
        if args.json:
            print_json(run_json(found_run, with_samples=args.requests))
        else:
            cost = effective_cost(ctx.settings, ctx.locations, args.profile).cost
            print(show_text(found_run, cost))
        return ExitCode.OK
    a, b = runs.get(args.a, with_samples=False), runs.get(args.b, with_samples=False)
    if args.json:
        print_json(
            {
                "a": run_json(a),
                "b": run_json(b),
                "rows": diff_rows(a, b),
                "context_changes": context_changes(a, b),
            }
        )
        return ExitCode.OK
    print_table(diff_rows(a, b), ("metric", f"run {a.id}", f"run {b.id}", "change"))
    for line in context_changes(a, b) or ["same engine, options, prompts and concurrency"]:
        print(f"note: {line}")
    return ExitCode.OK
