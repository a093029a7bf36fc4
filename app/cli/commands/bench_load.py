"""`hostbench bench [MODEL | --endpoint URL]`: a load test, stored, printed as tables.

MODEL is benchmarked on our server: the running one if it serves MODEL, else one started
in the background for the run (and stopped after). With --endpoint, MODEL is the model
name sent to that OpenAI-compatible API, with the key from --api-key-env.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from app.background import BackgroundServer, BackgroundServerError
from app.cli.bench_format import run_json, run_notes, runs_tables
from app.cli.bench_progress import RequestProgressBar
from app.cli.context import CliContext, add_server_address
from app.cli.exit_codes import ExitCode
from app.cli.output import note, print_json
from bench.errors import BenchUnavailableError, BenchUsageError
from bench.load import Target
from bench.metrics import parse_slo
from bench.power import PowerMeter
from bench.prompts import (
    LlamaCppTokenizer,
    PromptSet,
    Tokenizer,
    approximate_prompts,
    file_prompts,
    synthetic_prompts,
)
from bench.runs import BenchRun, BenchRuns
from bench.session import BenchPlan, SweepHooks, failed_warmup, run_sweep_blocking
from catalog import LocalModels
from engines.bench_context import (
    engine_context,
    engine_version,
    limit_inputs,
    local_target,
    run_context,
    running_engine,
)
from engines.control_client import ControlClient
from engines.process import free_port
from hardware import discover

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
    parser.add_argument("--json", action="store_true", help="runs as JSON on stdout")
    add_server_address(parser)
    return parser


@dataclass(frozen=True)
class Session:
    """Everything a run needs once the target is resolved."""

    target: Target
    context: dict[str, Any]
    tokenizer: Tokenizer | None
    status: dict[str, Any] | None


def parse_concurrency(text: str) -> tuple[int, ...]:
    try:
        levels = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise BenchUsageError(f"--concurrency: {text!r} is not a list of numbers") from None
    if not levels or min(levels) < 1:
        raise BenchUsageError("--concurrency: give one or more numbers >= 1, e.g. 1,4,8")
    return levels


def make_plan(args: argparse.Namespace) -> BenchPlan:
    if not (args.request_rate > 0):
        raise BenchUsageError("--request-rate must be positive")
    if min(args.input_len, args.output_len, args.num_prompts or 1) < 1:
        raise BenchUsageError("--input-len, --output-len and --num-prompts must be at least 1")
    return BenchPlan(
        concurrencies=parse_concurrency(args.concurrency),
        request_rate=args.request_rate,
        slo=parse_slo(args.slo),
        seed=args.seed,
        warmup=max(0, args.warmup),
    )


def make_prompts(
    args: argparse.Namespace, plan: BenchPlan, tokenizer: Tokenizer | None
) -> PromptSet:
    if args.prompts is not None:
        return file_prompts(args.prompts, args.num_prompts, args.output_len, tokenizer)
    count = args.num_prompts or max(16, 4 * max(plan.concurrencies))
    if tokenizer is None:
        note("no tokenizer for this endpoint (--tokenizer GGUF): prompt lengths are approximate")
        return approximate_prompts(count, args.input_len, args.output_len, args.seed)
    return synthetic_prompts(tokenizer, count, args.input_len, args.output_len, args.seed)


def endpoint_session(args: argparse.Namespace, model: str) -> Session:
    key = None
    if args.api_key_env:
        key = os.environ.get(args.api_key_env)
        if not key:
            raise BenchUsageError(f"--api-key-env: ${args.api_key_env} is not set")
    base_url = args.endpoint.rstrip("/")
    field = (
        "max_completion_tokens" if urlparse(base_url).hostname == "api.openai.com" else "max_tokens"
    )
    target = Target(base_url, model, api_key=key, kind="endpoint", max_tokens_field=field)
    tokenizer = LlamaCppTokenizer(args.tokenizer) if args.tokenizer else None
    context = run_context(discover(), None)
    return Session(target, context, tokenizer, None)


def hostbench_session(ctx: CliContext, status: dict[str, Any], base_url: str) -> Session:
    path = Path(str(status["model_path"]))
    tokenizer = LlamaCppTokenizer(path)
    version = engine_version(status)
    engine = engine_context(status, LocalModels(ctx.open_store()), version)
    context = run_context(discover(ctx.locations.models_dir), engine)
    target = local_target(base_url, status, tokenizer.eos_token_id())
    return Session(target, context, tokenizer, status)


@contextmanager
def served(ctx: CliContext, model: str) -> Iterator[tuple[dict[str, Any], str]]:
    """(engine status, OpenAI base URL): the running server's, or a background one's."""
    client = ControlClient(ctx.settings, ctx.locations)
    status = running_engine(client, model)
    if status is not None:
        note(f"using the running hostbench server at {client.base_url} ({status['runtime']})")
        yield status, f"{client.base_url}/v1"
        return
    note(f"starting a hostbench server for {model} in the background ...")
    log = ctx.locations.logs_dir / "bench" / "server.stderr"
    server = BackgroundServer([model], free_port(), log)
    try:
        try:
            ready = server.wait_ready()
        except BackgroundServerError as error:
            raise BenchUnavailableError(f"could not start {model}: {error}") from None
        note(f"{ready['name']} ready ({ready['runtime']}, pid {ready['pid']})")
        yield ready, f"{server.base_url}/v1"
    finally:
        server.stop()


def execute(
    ctx: CliContext, args: argparse.Namespace, plan: BenchPlan, session: Session
) -> list[BenchRun]:
    prompts = make_prompts(args, plan, session.tokenizer)
    store = ctx.open_store()
    limit = None
    if session.status is not None:
        snapshot = discover(ctx.locations.models_dir)
        limit = limit_inputs(session.status, snapshot, ctx.settings.cost)
    meter = PowerMeter(ctx.settings.cost.cpu_package_watts)
    hooks = SweepHooks(
        power=meter, runs=BenchRuns(store), limit=limit, progress=RequestProgressBar()
    )
    note(
        f"{len(prompts.prompts)} requests per level, concurrency {plan.concurrencies}, "
        f"{session.target.base_url} model {session.target.model}"
    )
    try:
        warm, runs = run_sweep_blocking(session.target, plan, prompts, session.context, hooks)
    finally:
        meter.close()
    if (error := failed_warmup(warm)) is not None:
        raise BenchUnavailableError(f"the warm-up request failed: {error}")
    return runs


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


def run(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(argv)
    ctx = CliContext.from_args(args)
    model = args.model or DEFAULT_MODEL
    plan = make_plan(args)  # bad flags fail here, before any server starts
    if args.endpoint:
        runs = execute(ctx, args, plan, endpoint_session(args, model))
    else:
        with served(ctx, model) as (status, base_url):
            runs = execute(ctx, args, plan, hostbench_session(ctx, status, base_url))
    report(runs, args.json)
    failed = any(r.metrics.completed == 0 for r in runs)
    sys.stdout.flush()
    return ExitCode.ERROR if failed else ExitCode.OK
