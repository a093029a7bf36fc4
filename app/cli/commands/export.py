"""`hostbench export MODEL --to k8s|kserve|compose`: the launch you tested here, as
manifests for an orchestrator (stdout, or a file with -o)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from app.cli.commands.launch import engine_name
from app.cli.context import CliContext
from app.cli.exit_codes import CliUsageError
from app.cli.fitting import add_machine_option, machine_snapshot
from app.cli.options import add_model_options, given_options
from app.cli.output import note
from engines.base import EngineAdapter
from engines.registry import load_engine
from errors import ExitCode
from workflows.export import ExportRequest, Target, build_export, to_yaml
from workflows.launching import Launcher, LaunchOrder


def build_parser(adapter: EngineAdapter) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hostbench export",
        description="Write a Kubernetes Deployment + Service (k8s), a KServe InferenceService "
        "on its vLLM runtime (kserve) or a compose file (compose) that runs MODEL with the "
        "options `hostbench launch` would use: the same profile, flags and fit estimate.",
    )
    parser.add_argument("model", help="catalog id[:QUANT], local id, .gguf path or HF repo (vLLM)")
    parser.add_argument("--to", required=True, choices=[t.value for t in Target])
    parser.add_argument("--engine", help="engine adapter (default: the profile's, else llama.cpp)")
    parser.add_argument("--profile", help="launch profile (default: the one matching the machine)")
    parser.add_argument("--name", help="model name clients send (default: MODEL)")
    parser.add_argument(
        "--gpus-per-replica", type=int, help="GPUs per replica (default: vLLM's ranks, else 0)"
    )
    parser.add_argument("--replicas", type=int, default=1, help="copies to run (default 1)")
    parser.add_argument("-o", "--output", type=Path, help="write here instead of stdout")
    add_machine_option(parser)
    add_model_options(parser, adapter.Options, f"{adapter.display_name} options")
    return parser


def run(argv: Sequence[str]) -> int:
    adapter = load_engine(engine_name(argv))
    args = build_parser(adapter).parse_args(argv)
    ctx = CliContext.from_args(args)
    order = LaunchOrder(
        args.model,
        args.engine,
        given_options(args),
        args.name,
        profile=args.profile,
        given_where="on the command line",
    )
    snapshot = machine_snapshot(args.machine, ctx.locations.models_dir) if args.machine else None
    request = ExportRequest(order, Target(args.to), args.gpus_per_replica, args.replicas, snapshot)
    documents = build_export(Launcher(ctx.settings, ctx.locations, ctx.open_store()), request)
    text = to_yaml(documents)
    if args.output is None:
        print(text, end="")
    else:
        try:
            args.output.write_text(text)
        except OSError as error:
            raise CliUsageError(f"cannot write {args.output}: {error.strerror}") from None
        note(f"wrote {args.output} ({len(documents)} document(s))")
    if args.to == Target.KSERVE:
        note("KServe serves the OpenAI API under /openai/v1 on the InferenceService's URL")
    return ExitCode.OK
