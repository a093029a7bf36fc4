"""The headless CLI: `hostbench <command>`. stdout is data, stderr is for people.

Command modules are imported only when their command runs, so `hostbench --help` and
`hostbench models` do not pay for the server, the engines or Textual.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from app.cli.exit_codes import ExitCode, exit_code_for

COMMANDS: dict[str, tuple[str, str]] = {
    "launch": ("launch", "serve MODEL on the local OpenAI endpoint (foreground)"),
    "serve": ("serve", "run the hostbench server without loading a model (foreground)"),
    "pull": ("pull", "fetch a catalog model and verify its sha256"),
    "models": ("models", "list local models"),
    "rm": ("rm", "remove a local model"),
    "catalog": ("catalog", "browse the model catalog with a fit verdict for this machine"),
    "fit": ("fit", "estimate whether a model fits this machine, before downloading it"),
    "quantize": ("quantize", "quantize a local model with llama.cpp's quantizer"),
    "profiles": ("profiles", "list or show launch profiles"),
    "ps": ("ps", "list the engines of the running server"),
    "stop": ("stop", "stop an engine of the running server"),
    "export": ("export", "write Kubernetes, KServe or compose manifests for a model"),
    "gpus": ("gpus", "show GPUs, CPU, RAM and disk of this machine (--watch, --json)"),
    "hw": ("gpus", "alias of `gpus`"),
    "engines": ("engines", "list engine adapters, or build llama-server for this machine"),
    "bench": ("bench", "benchmark an endpoint; `bench list|show|diff`; `bench overhead`"),
    "compare": ("compare", "cost and speed here vs hosted APIs, with break-even volume"),
    "prices": ("prices", "the hosted-API price table: show it, or `prices update --from`"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hostbench",
        description="A workbench for self-hosting LLM inference on your own hardware. "
        "Without a command, opens the interactive workbench.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging on stderr")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_module, summary) in COMMANDS.items():
        commands.add_parser(name, help=summary, add_help=False)
    return parser


def _configure_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )
    for noisy in ("httpx", "httpcore", "uvicorn.error"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if args.command is None:
        if rest:
            parser.error(f"unrecognized arguments: {' '.join(rest)}")
        return _workbench()
    _configure_logging(args.verbose)
    module = importlib.import_module(f"app.cli.commands.{COMMANDS[args.command][0]}")
    try:
        return int(module.run(rest))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except Exception as error:  # the one place where errors become exit codes
        code = exit_code_for(error)
        if code == ExitCode.ERROR and not _is_known(error):
            raise
        print(f"error: {describe(error)}", file=sys.stderr)
        return code


def _workbench() -> int:
    """No command: open the Textual workbench (imported only now, so --help stays instant)."""
    from app.tui import run

    return run()


def _is_known(error: BaseException) -> bool:
    from bench import StoreError
    from bench.errors import BenchError
    from catalog import CatalogError
    from engines.errors import EngineError
    from engines.llamacpp.build import BuildError
    from profiles.library import ProfileError

    known = CatalogError | EngineError | StoreError | BuildError | ProfileError | BenchError
    return isinstance(error, known)


def describe(error: BaseException) -> str:
    """One line per problem, naming the flag or setting at fault."""
    from pydantic import ValidationError

    if not isinstance(error, ValidationError):
        return str(error)
    problems = []
    for item in error.errors():
        path = [str(part) for part in item["loc"]]
        if error.title == "Settings":
            where = f"setting {'.'.join(path)} (HOSTBENCH_{'__'.join(path).upper()})"
        else:
            where = "option --" + "-".join(path[:1]).replace("_", "-")
        problems.append(f"invalid {where}: {item['msg']}")
    return "; ".join(problems)
