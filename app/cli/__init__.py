"""The headless CLI: `hostbench <command>`. stdout is data, stderr is for people.

Command modules are imported only when their command runs, so `hostbench --help` and
`hostbench models` do not pay for the server, the engines or Textual.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Callable, Sequence

from app.cli.exit_codes import CliUsageError, exit_code_for
from errors import ExitCode

COMMANDS: dict[str, tuple[str, str]] = {
    "launch": ("launch", "serve MODEL on the local OpenAI endpoint (foreground)"),
    "serve": ("serve", "run the hostbench server without loading a model (foreground)"),
    "pull": ("pull", "fetch a catalog model and verify its sha256"),
    "models": ("models", "list local models"),
    "rm": ("rm", "remove a local model"),
    "catalog": ("catalog", "browse the model catalog with a fit verdict for this machine"),
    "search": ("search", "search the Hugging Face Hub for GGUF models, with a fit verdict here"),
    "fit": ("fit", "estimate whether a model fits this machine, before downloading it"),
    "quantize": ("quantize", "quantize a local model with llama.cpp's quantizer"),
    "profiles": ("profiles", "list or show launch profiles"),
    "ps": ("ps", "list the engines of the running server"),
    "stop": ("stop", "stop an engine of the running server"),
    "restart": ("restart", "restart an engine of the running server with its options"),
    "clients": ("clients", "what to paste to point OpenAI/Anthropic SDKs and agents here"),
    "token": ("token", "the control token: `token rotate` replaces it"),
    "shutdown": ("shutdown", "stop the running server itself and all its engines"),
    "export": ("export", "write Kubernetes, KServe or compose manifests for a model"),
    "gpus": ("gpus", "show GPUs, CPU, RAM and disk of this machine (--watch, --json)"),
    "hw": ("gpus", "alias of `gpus`"),
    "engines": ("engines", "list engine adapters, or build llama-server for this machine"),
    "bench": ("bench", "benchmark an endpoint; `bench list|show|diff`; `bench overhead`"),
    "tune": ("tune", "measure llama.cpp settings for MODEL here; `launch` then uses the best"),
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
    for noisy in ("httpx", "httpx2", "httpcore", "uvicorn.error"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def main(argv: Sequence[str] | None = None, workbench: Callable[[], int] | None = None) -> int:
    """Run the command in `argv`; without one, open `workbench` (app.main hands it the
    Textual front end, which this package never imports), else show the usage."""
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if args.command is None:
        if rest:
            parser.error(f"unrecognized arguments: {' '.join(rest)}")
        if workbench is None:
            parser.print_help(sys.stderr)
            return ExitCode.USAGE
        return workbench()
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
            return _internal_error(error, args.verbose)
        print(f"error: {describe(error)}", file=sys.stderr)
        return code


INTERNAL_ERROR = "internal error"
"""What an error no front end anticipated is called on stderr: a bug to report. Tests
look for it (tests/unit/test_cli_robustness.py), so a bug never hides as a clean exit."""


def _internal_error(error: Exception, verbose: bool) -> int:
    """One line, never a traceback on the terminal unless asked for (-v)."""
    if verbose:
        import traceback

        traceback.print_exception(error)
    one_line = " ".join(str(error).split())[:300]
    print(
        f"error: {INTERNAL_ERROR}: {type(error).__name__}: {one_line} "
        "(`hostbench -v ...` shows the traceback; please report it)",
        file=sys.stderr,
    )
    return ExitCode.ERROR


def _is_known(error: BaseException) -> bool:
    from bench.errors import BenchError
    from catalog import CatalogError
    from engines.errors import EngineError
    from engines.llamacpp.build import BuildError
    from hardware.snapshot_file import SnapshotFileError
    from profiles.library import ProfileError
    from profiles.settings import SettingsFileError
    from storage import StoreError

    known = (CatalogError | EngineError | StoreError | BuildError | ProfileError | BenchError) | (
        SnapshotFileError | CliUsageError | SettingsFileError
    )
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
        elif path:
            where = "option --" + "-".join(path[:1]).replace("_", "-")
        else:  # a rule over several options
            where = "options"
        problems.append(f"invalid {where}: {item['msg'].removeprefix('Value error, ')}")
    return "; ".join(problems)
