"""`hostbench bench [MODEL | --endpoint URL]`: a load test, stored, printed as tables, then
the throughput-latency curve (bench_curve) when it measured two points or more.

MODEL is benchmarked on our server: the running one if it serves MODEL, else one started
in the background for the run (and stopped after). With --endpoint, MODEL is the model
name sent to that OpenAI-compatible API, with the key from --api-key-env. With --vary
NAME=V1,V2 the model is launched in the background once per value and swept each time.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

from app.background import BackgroundServer, BackgroundServerError
from app.cli.bench_curve import show_curve
from app.cli.bench_format import run_json, run_notes, runs_tables
from app.cli.bench_progress import RequestProgressBar
from app.cli.context import CliContext, add_server_address
from app.cli.output import note, print_json
from bench.errors import BenchUnavailableError, BenchUsageError
from bench.metrics import parse_slo
from bench.runs import BenchRun
from bench.session import BenchPlan, parse_levels
from control.api import EngineStatus
from control.client import ControlClient
from engines.process import free_port
from errors import ExitCode
from workflows.bench_context import running_engine
from workflows.benchmarking import (
    PreparedBench,
    PromptSpec,
    effective_cost,
    make_prompts,
    prepare_endpoint,
    prepare_local,
    run_bench,
)
from workflows.curves import Vary, parse_vary

DEFAULT_MODEL = "smollm2-135m-instruct"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hostbench bench",
        description="Load-test a model (streaming; vLLM's metric definitions) and store the "
        "run. Subcommands: list, show RUN, diff RUN RUN, overhead.",
    )
    parser.add_argument("model", nargs="?", help=f"model to test (default: {DEFAULT_MODEL})")
    target = parser.add_argument_group("target")
    target.add_argument("--endpoint", help="an OpenAI-compatible base URL (…/v1) instead of ours")
    target.add_argument("--api-key-env", metavar="VAR", help="environment variable with the key")
    target.add_argument(
        "--tokenizer",
        type=Path,
        metavar="GGUF",
        help="GGUF file whose tokenizer sizes prompts for --endpoint",
    )
    load = parser.add_argument_group("load")
    load.add_argument("--concurrency", default="1", help="levels to sweep, e.g. 1,4,8 (default 1)")
    load.add_argument(
        "--num-prompts",
        type=int,
        help="requests per level (default 4 x the "
        "highest concurrency, at least 16; with --prompts: one pass)",
    )
    load.add_argument("--input-len", type=int, default=128, help="prompt tokens (default 128)")
    load.add_argument("--output-len", type=int, default=64, help="answer tokens (default 64)")
    load.add_argument(
        "--request-rate",
        type=float,
        default=math.inf,
        help="requests per second, Poisson arrivals (default: all at once)",
    )
    load.add_argument(
        "--prompts",
        type=Path,
        metavar="FILE.jsonl",
        help='prompts, one JSON object a line: {"prompt": ...} or {"messages": [...]}',
    )
    load.add_argument("--slo", default="", help="goodput bounds, e.g. ttft_ms=500,tpot_ms=50")
    load.add_argument("--seed", type=int, default=0, help="seed of prompts and arrivals")
    load.add_argument("--warmup", type=int, default=1, help="requests sent first, not counted")
    ab = parser.add_argument_group("A/B: the same bench on two engines, drafts or quantizations")
    ab.add_argument(
        "--ab",
        action="store_true",
        help="run the bench on two engines, one at a time, each started for its run, and "
        "print the comparison (default pair: every engine the recommendation says can run "
        "MODEL here; refused unless two can)",
    )
    ab.add_argument(
        "--engines",
        metavar="A,B",
        help="the A/B pair (implies --ab): engines or launch presets, e.g. "
        "llama.cpp,llama-cpp-python",
    )
    ab.add_argument(
        "--draft-model",
        metavar="DRAFT",
        help="A/B of speculative decoding (implies --ab): the model alone, then with DRAFT "
        "as its draft model, on one engine (--engine, default llama.cpp); prints the "
        "draft's acceptance and the speed-up measured",
    )
    ab.add_argument(
        "--quants",
        metavar="A,B",
        help="A/B of two quantizations of MODEL (implies --ab), e.g. Q4_1,Q4_0: each "
        "MODEL:TYPE on one engine (--engine, default llama.cpp); prints the speed of B "
        "against A next to llama.cpp's quality figures for both",
    )
    ab.add_argument(
        "--engine", help="the engine of a --draft-model or --quants A/B (default llama.cpp)"
    )
    curve = parser.add_argument_group("the trade-off curve (drawn after two levels or more)")
    curve.add_argument(
        "--report",
        type=Path,
        metavar="FILE",
        help="write the curve there: FILE.svg (the charts) or FILE.html (charts, points, costs)",
    )
    curve.add_argument(
        "--vary",
        metavar="NAME=V1,V2",
        help="launch the model once per value of an engine option (e.g. parallel=2,4,8) and "
        "sweep each: one curve per value",
    )
    parser.add_argument("--json", action="store_true", help="runs as JSON on stdout")
    add_server_address(parser)
    return parser


def check_report_path(path: Path | None) -> None:
    """A report that could not be written fails now, not after minutes of measuring."""
    if path is None:
        return
    if path.is_dir():
        raise BenchUsageError(f"--report {path} is a directory: name a .svg or .html file")


def make_plan(args: argparse.Namespace) -> tuple[BenchPlan, PromptSpec]:
    """Flags into a plan; bad values fail here, before any server starts."""
    if not args.request_rate > 0:
        raise BenchUsageError("--request-rate must be positive")
    check_report_path(args.report)
    plan = BenchPlan(
        concurrencies=parse_levels(args.concurrency),
        request_rate=args.request_rate,
        slo=parse_slo(args.slo),
        seed=args.seed,
        warmup=max(0, args.warmup),
    )
    spec = PromptSpec(args.input_len, args.output_len, args.num_prompts, args.prompts, args.seed)
    return plan, spec


def check_endpoint(url: str) -> None:
    """An http(s) URL with a host, before any request: an empty or scheme-less one once
    failed only at the warm-up, with the HTTP client's own words."""
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise BenchUsageError(
            f"--endpoint {url!r}: give an http(s) base URL, e.g. http://127.0.0.1:8000/v1"
        )


def endpoint_bench(args: argparse.Namespace, model: str) -> PreparedBench:
    check_endpoint(args.endpoint)
    key = None
    if args.api_key_env is not None:
        key = os.environ.get(args.api_key_env)
        if not key:
            raise BenchUsageError(f"--api-key-env: ${args.api_key_env} is not set")
    if args.tokenizer is None:
        note("no tokenizer for this endpoint (--tokenizer GGUF): prompt lengths are approximate")
    return prepare_endpoint(args.endpoint, model, key, args.tokenizer)


@contextmanager
def served(
    ctx: CliContext, model: str, flags: Sequence[str] = ()
) -> Iterator[tuple[EngineStatus, str]]:
    """(engine status, OpenAI base URL): the running server's, or a background one's;
    always a background one launched with `flags` when there are any (--vary)."""
    client = ControlClient(ctx.settings, ctx.locations)
    status = None if flags else running_engine(client, model)
    if status is not None:
        note(f"using the running hostbench server at {client.base_url} ({status.runtime})")
        yield status, f"{client.base_url}/v1"
        return
    note(f"starting a hostbench server for {' '.join([model, *flags])} in the background ...")
    log = ctx.locations.logs_dir / "bench" / "server.stderr"
    server = BackgroundServer([model, *flags], free_port(), log)
    try:
        try:
            ready = server.wait_engine()
        except BackgroundServerError as error:
            raise BenchUnavailableError(f"could not start {model}: {error}") from None
        note(f"{ready.name} ready ({ready.runtime}, pid {ready.pid})")
        yield ready, f"{server.base_url}/v1"
    finally:
        server.stop()


def execute(
    ctx: CliContext, plan: BenchPlan, spec: PromptSpec, prepared: PreparedBench
) -> list[BenchRun]:
    prompts = make_prompts(spec, plan, prepared.tokenizer)
    note(
        f"{len(prompts.for_level(0))} requests per level, concurrency {plan.concurrencies}, "
        f"{prepared.target.base_url} model {prepared.target.model}"
    )
    cost = effective_cost(ctx.settings, ctx.locations).cost
    store = ctx.open_store()
    return run_bench(prepared, plan, prompts, store, cost, progress=RequestProgressBar())


def report(runs: Sequence[BenchRun], as_json: bool) -> None:
    if as_json:
        print_json([run_json(run) for run in runs])
        return
    print(runs_tables(runs))
    for line in run_notes(runs):
        print(f"note: {line}")
    if runs:
        note(
            f"stored as runs {', '.join(str(r.id) for r in runs)}: `hostbench bench show "
            f"{runs[-1].id}`, `hostbench compare {runs[-1].label}`"
        )


def local_sweep(
    ctx: CliContext,
    model: str,
    plan: BenchPlan,
    spec: PromptSpec,
    varied: tuple[Vary, str] | None = None,
) -> list[BenchRun]:
    """The sweep on the running server, or on a background one launched with the
    `varied` setting (a --vary value), whose runs then store their series."""
    flags = varied[0].launch_flags(varied[1]) if varied else ()
    with served(ctx, model, flags) as (status, base_url):
        prepared = prepare_local(ctx.settings, ctx.locations, ctx.open_store(), status, base_url)
        if varied is not None:
            prepared = varied[0].tag(prepared, varied[1])
        return execute(ctx, plan, spec, prepared)


def varied_sweeps(
    ctx: CliContext, model: str, plan: BenchPlan, spec: PromptSpec, vary: Vary
) -> list[tuple[str, list[BenchRun]]]:
    """The sweep once per value, each on its own background server, one after another."""
    series = []
    for value in vary.values:
        note(f"--vary: {vary.series(value)}")
        series.append((vary.series(value), local_sweep(ctx, model, plan, spec, (vary, value))))
    return series


def wants_ab(args: argparse.Namespace) -> bool:
    """--ab, or an option that implies it (given, even empty: `--quants=` is refused as
    such rather than taken for a plain bench)."""
    implied = (args.engines, args.draft_model, args.quants)
    return bool(args.ab) or any(value is not None for value in implied)


def check_vary(args: argparse.Namespace) -> Vary | None:
    """--vary's option and values, checked before anything starts."""
    if args.vary is None:
        return None
    if args.endpoint is not None or wants_ab(args):
        raise BenchUsageError(
            "--vary launches the model itself; it does not take --endpoint or --ab"
        )
    return parse_vary(args.vary)


def run(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(argv)
    ctx = CliContext.from_args(args)
    model = args.model or DEFAULT_MODEL
    plan, spec = make_plan(args)
    vary = check_vary(args)
    if wants_ab(args):
        from app.cli.commands import bench_ab

        return bench_ab.run(ctx, args, model, plan, spec)
    if vary is not None:
        series = varied_sweeps(ctx, model, plan, spec, vary)
    elif args.endpoint is not None:
        series = [("", execute(ctx, plan, spec, endpoint_bench(args, model)))]
    else:
        series = [("", local_sweep(ctx, model, plan, spec))]
    runs = [run for _, group in series for run in group]
    report(runs, args.json)
    show_curve(ctx, series, args.report, args.json)
    return ExitCode.ERROR if any(r.metrics.completed == 0 for r in runs) else ExitCode.OK
