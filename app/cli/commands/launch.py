"""`hostbench launch MODEL`: serve MODEL in the foreground, or hand it to a running server."""

from __future__ import annotations

import argparse
import json
import shlex
from collections.abc import Sequence
from pathlib import Path

from app.cli.context import CliContext, add_server_address
from app.cli.exit_codes import CliUsageError
from app.cli.options import add_model_options, given_options
from app.cli.output import note, print_table
from app.cli.progress import ByteProgress
from control.api import check_served_name
from control.client import ControlClient
from control.requests import absolute_model, profile_only_option
from engines.base import EngineAdapter
from engines.errors import EngineError, UnsupportedOptionError
from engines.registry import load_engine
from engines.supervisor import LaunchRequest, ManagedEngine
from errors import ExitCode
from serving.runner import (
    ReadyHook,
    ServerInfo,
    bind_socket,
    check_bind_policy,
    run_event_loop,
    serve,
)
from workflows.launching import Launcher, LaunchOrder, engine_for

DEFAULT_MODEL = "smollm2-135m-instruct"


def build_parser(adapter: EngineAdapter) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hostbench launch",
        description="Serve MODEL behind the local OpenAI endpoint, in the foreground. "
        "If a hostbench server already runs on the port, MODEL is added to it instead.",
    )
    parser.add_argument(
        "model",
        nargs="?",
        default=DEFAULT_MODEL,
        help=f"catalog id, id:QUANT, local model id or .gguf path (default: {DEFAULT_MODEL})",
    )
    parser.add_argument(
        "--engine",
        help="engine adapter (hostbench engines); default: the profile's engine, else llama.cpp",
    )
    parser.add_argument("--name", help="model name clients send (default: MODEL)")
    parser.add_argument("--alias", action="append", default=[], help="another name (repeatable)")
    parser.add_argument("--json", action="store_true", help="print one JSON line when ready")
    parser.add_argument(
        "--profile", help="launch profile (hostbench profiles); default: the one for this machine"
    )
    parser.add_argument(
        "--idle-ttl",
        type=positive_seconds,
        metavar="SECONDS",
        help="sleep after SECONDS idle: unloaded but still listed, woken by its next "
        "request (default: run until stopped)",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print the resolved options and why, then exit without starting anything",
    )
    parser.add_argument(
        "--machine",
        type=Path,
        metavar="FILE",
        help="with --dry-run: plan for a machine snapshot (JSON from `hostbench gpus --json` "
        "there) instead of this machine, as `hostbench fit --machine` does",
    )
    add_server_address(parser)
    add_model_options(parser, adapter.Options, f"{adapter.display_name} options")
    return parser


def positive_seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds above 0")
    return seconds


def engine_name(argv: Sequence[str]) -> str:
    """The engine whose options become flags: --engine, else --profile's engine."""
    from profiles import Locations

    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--engine")
    pre.add_argument("--profile")
    known = pre.parse_known_args(argv)[0]
    return engine_for(known.engine, known.profile, Locations.from_env())


def curl_example(info: ServerInfo, model: str) -> str:
    body = {"model": model, "messages": [{"role": "user", "content": "Say hello in five words."}]}
    return (
        f"curl {info.openai_url}/chat/completions -H 'Content-Type: application/json' "
        f"-d {shlex.quote(json.dumps(body))}"
    )


class ConsoleHook(ReadyHook):
    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json

    def listening(self, info: ServerInfo) -> None:
        note(f"hostbench server listening on {info.base_url}")

    def engine_ready(self, info: ServerInfo, engine: ManagedEngine) -> None:
        status = engine.status()
        if self.as_json:
            print(json.dumps({"event": "ready", "url": info.openai_url, **status}), flush=True)
            return
        limit = status["context_limit"]
        context = f"context {limit} tokens" if limit else "context set by its command"
        print(
            f"{engine.name} is ready ({status['runtime']}, pid {status['pid']}, {context})\n"
            f"OpenAI endpoint: {info.openai_url}\n"
            f"Try it:\n  {curl_example(info, engine.name)}\n"
            "Stop with Ctrl-C.",
            flush=True,
        )

    def engine_failed(self, request: LaunchRequest, error: EngineError) -> None:
        note(f"error: could not launch {request.served_name}: {error}")


def _order(args: argparse.Namespace) -> LaunchOrder:
    name = None if args.name is None else check_served_name(args.name, "--name")
    return LaunchOrder(
        absolute_model(args.model),
        args.engine,
        given_options(args),
        name,
        tuple(check_served_name(alias, "--alias") for alias in args.alias),
        profile=args.profile,
        given_where="on the command line",
        idle_ttl_s=args.idle_ttl,
    )


def _dry_run(ctx: CliContext, order: LaunchOrder, as_json: bool, machine: Path | None) -> int:
    """The plan without starting anything; for this machine, or for the snapshot in
    `machine` (read as `hostbench fit --machine` reads it)."""
    from app.cli.fitting import machine_snapshot, report_dict, resolution_rows

    launcher = Launcher(ctx.settings, ctx.locations, ctx.open_store())
    snapshot = None if machine is None else machine_snapshot(machine, ctx.locations.models_dir)
    plan = launcher.plan(order, snapshot=snapshot)
    for line in launcher.notes:
        note(line)
    resolution, report = plan.resolution, plan.resolution.report
    if as_json:
        print(json.dumps({
            "engine": plan.engine,
            "profile": list(resolution.profile.chain),
            "options": resolution.options,
            "reasons": resolution.reason_texts(),
            "origins": {k: r.origin.value for k, r in resolution.reasons.items()},
            "fit": report_dict(report) if report else None,
            "memory": {"bytes": plan.memory.bytes, "basis": plan.memory.basis},
            "refusal": plan.refusal,
        }))  # fmt: skip
    else:
        chosen = "" if order.profile else f" (matches {'that' if machine else 'this'} machine)"
        print(f"engine: {plan.engine}")
        print(f"profile: {' -> '.join(resolution.profile.chain)}{chosen}")
        if report is not None:
            print(f"model: {report.shape.name} ({report.shape.source}): {report.verdict.value}")
            for reason in report.reasons:
                print(f"  {reason}")
        print(f"memory: {plan.memory.basis}")
        print_table(resolution_rows(resolution), ("option", "value", "why"))
    if plan.refusal is not None:
        note(f"would not launch: {plan.refusal}")
        return ExitCode.DOES_NOT_FIT
    return ExitCode.OK


def _attach(client: ControlClient, order: LaunchOrder, as_json: bool) -> int:
    option = profile_only_option(order.options)
    if option is not None:
        raise UnsupportedOptionError(
            f"--{option.replace('_', '-')} is not handed to the running server at "
            f"{client.base_url} (it would let the control API run programs): put it in a "
            "launch profile and pass --profile NAME, or stop that server to run it here"
        )
    note(f"a hostbench server already runs at {client.base_url}; asking it to load {order.model}")
    status = client.launch(order.body())
    if as_json:
        ready = {"event": "ready", "url": f"{client.base_url}/v1", **status.model_dump(mode="json")}
        print(json.dumps(ready))
    else:
        print(f"{status.name} is ready on {client.base_url}/v1 (pid {status.pid})")
    return ExitCode.OK


def run(argv: Sequence[str]) -> int:
    ctx_adapter = load_engine(engine_name(argv))
    args = build_parser(ctx_adapter).parse_args(argv)
    ctx = CliContext.from_args(args)
    order = _order(args)
    if args.dry_run:
        return _dry_run(ctx, order, args.json, args.machine)
    if args.machine is not None:
        raise CliUsageError(
            "--machine only plans: add --dry-run to see what would run on that machine "
            "(a launch always runs here)"
        )
    client = ControlClient(ctx.settings, ctx.locations)
    if client.probe() is not None:
        return _attach(client, order, args.json)
    check_bind_policy(ctx.settings)
    sock = bind_socket(ctx.settings.server.host, ctx.settings.server.port)
    launcher = Launcher(ctx.settings, ctx.locations, ctx.open_store())
    progress = ByteProgress(f"getting {order.model}")
    try:
        request = launcher.prepare(order, progress=progress)
    except BaseException:
        sock.close()
        raise
    finally:
        progress.finish()
    for line in launcher.notes:
        note(line)
    outcome = run_event_loop(
        serve(ctx.settings, ctx.locations, [request], hook=ConsoleHook(args.json), sock=sock)
    )
    if outcome.launch_failed:
        return ExitCode.LAUNCH_FAILED
    note("hostbench server stopped; engines stopped")
    return ExitCode.OK
