"""Every subcommand against bad input: a missing file, a directory, an unreadable file,
malformed JSON/GGUF/TOML, an unknown model, a bad number, no server running, and a server of
another program on the port. Each ends in one error line on stderr and the README's exit
code, never a traceback (and never the CLI's "internal error" line, which marks a bug).

The subcommands and their arguments are discovered from the CLI's own parsers, so a new
command or flag is covered without touching this file; `EXPECTED` says which exit code each
kind of bad input gets (the README's table: 2 usage, 3 not found, 4 unavailable)."""

from __future__ import annotations

import argparse
import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from app.cli import COMMANDS, INTERNAL_ERROR, main
from engines.process import free_port
from errors import ExitCode
from tests.gguf_files import write_tiny_gguf

DEFAULT_MODEL = "smollm2-135m-instruct"
SUBCOMMAND_WORDS = {"bench": ("list", "show", "diff", "overhead")}
"""Words a command dispatches on before its own parser (`bench show` is not in bench's)."""
SERVER_OWNERS = ("launch", "serve")
"""Commands that bind the port themselves: only "another program on the port" applies."""
EXPECTED = {
    "unknown model": ExitCode.NOT_FOUND,
    "missing file": ExitCode.NOT_FOUND,
    "directory": ExitCode.USAGE,
    "unreadable file": ExitCode.USAGE,
    "malformed file": ExitCode.USAGE,
    "bad number": ExitCode.USAGE,
    "no server": ExitCode.UNAVAILABLE,
    "another program on the port": ExitCode.UNAVAILABLE,
    "malformed config.toml": ExitCode.USAGE,
}


class _Found(BaseException):  # not an Exception: main() turns those into error lines
    def __init__(self, parser: argparse.ArgumentParser) -> None:
        self.parser = parser


def parser_of(words: list[str], monkeypatch: pytest.MonkeyPatch) -> argparse.ArgumentParser:
    """The parser a subcommand builds, caught when `--help` is asked of it."""

    def caught(self: Any, parser: argparse.ArgumentParser, *_args: Any) -> None:
        raise _Found(parser)

    with monkeypatch.context() as patch:
        patch.setattr(argparse._HelpAction, "__call__", caught)
        try:
            main([*words, "--help"])
        except _Found as found:
            return found.parser
    raise AssertionError(f"{words} has no --help")


def command_paths() -> list[list[str]]:
    """Every subcommand, and the sub-subcommands of those that have them."""
    paths = [[name] for name in COMMANDS if name != "hw"]
    for name, words in SUBCOMMAND_WORDS.items():
        paths += [[name, word] for word in words]
    return paths


def subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


@dataclass
class Bad:
    """Files and servers the cases point at."""

    tmp: Path
    foreign_port: int

    def files(self) -> dict[str, Path]:
        unreadable = self.tmp / "unreadable.json"
        unreadable.write_text("{}")
        unreadable.chmod(0)
        malformed = self.tmp / "malformed.gguf"
        malformed.write_bytes(b"GGUF\x03\x00\x00\x00" + b"\xff" * 64)
        not_json = self.tmp / "malformed.json"
        not_json.write_text("{ not json")
        return {
            "missing file": self.tmp / "missing.gguf",
            "directory": self.tmp,
            "unreadable file": unreadable,
            "malformed gguf": malformed,
            "malformed json": not_json,
        }


class _Other(BaseHTTPRequestHandler):
    """Another program's HTTP server: 200 and JSON that means something else entirely."""

    def log_message(self, *args: object) -> None:
        pass

    def _answer(self) -> None:
        body = json.dumps({"hello": "from another program", "items": [1, 2]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_DELETE = _answer


@pytest.fixture(scope="module")
def other_program() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Other)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


FILLERS = {"to": "Q8_0"}
"""Valid values for arguments whose type does not say what is valid (quantize --to)."""
LABEL_COMMANDS = ("rm", "compare")
"""Their MODEL names a local model or stored runs: anything unknown is "not found" (3)."""
NOT_INPUTS = ("output", "report", "model_dir")
"""Paths written to or measured, not read: only a directory in place of a file is bad."""


def filler(action: argparse.Action, tiny: Path) -> str:
    """A harmless valid value for an argument the case does not test."""
    if action.dest in FILLERS and not action.choices:
        return FILLERS[action.dest]
    if action.choices:
        return str(next(iter(action.choices)))
    if action.type in (int, float):
        return "1"
    return DEFAULT_MODEL if action.dest == "model" else str(tiny) if "gguf" in str(
        action.metavar).lower() else "x"  # fmt: skip


def base_argv(words: list[str], parser: argparse.ArgumentParser, tiny: Path) -> list[str]:
    """The subcommand with every required argument filled in, and no server reachable."""
    argv = list(words)
    for action in parser._actions:
        if action.option_strings and action.required:
            argv += [action.option_strings[0], filler(action, tiny)]
        elif _required_positional(action):
            argv.append(filler(action, tiny))
    if _has(parser, "endpoint"):
        argv += ["--endpoint", f"http://127.0.0.1:{free_port()}/v1"]
    if _has(parser, "dry_run"):
        argv.append("--dry-run")
    if _has(parser, "port") and words[0] not in SERVER_OWNERS:
        argv += ["--port", str(free_port())]
    return argv


def _required_positional(action: argparse.Action) -> bool:
    return not (
        action.option_strings
        or action.nargs in ("?", "*")
        or isinstance(action, argparse._SubParsersAction)
    )


def _has(parser: argparse.ArgumentParser, dest: str) -> bool:
    return any(a.dest == dest for a in parser._actions)


def _replace(argv: list[str], action: argparse.Action, value: str, tiny: Path) -> list[str]:
    """argv with `action` set to `value` (a positional replaces its filler)."""
    if action.option_strings:
        flag = action.option_strings[-1]
        if flag in argv:
            index = argv.index(flag)
            return [*argv[:index], flag, value, *argv[index + 2 :]]
        return [*argv, flag, value]
    filled = filler(action, tiny)
    if filled in argv[1:]:
        index = argv.index(filled, 1)
        return [*argv[:index], value, *argv[index + 1 :]]
    return [*argv, value]


FILE_DESTS = ("machine", "prompts", "tokenizer", "from_")
ROOT_READS_ALL = os.geteuid() == 0
"""Root reads a file of mode 000: there, the "unreadable file" case cannot be made."""


def cases_for(
    words: list[str], parser: argparse.ArgumentParser, bad: Bad, tiny: Path
) -> Iterator[tuple[str, list[str]]]:
    argv = base_argv(words, parser, tiny)
    files = bad.files()
    for action in parser._actions:
        if action.dest == "model" and not action.option_strings and not _has(parser, "endpoint"):
            yield from _model_cases(words, argv, action, files, tiny)
        if action.dest in ("output", "report"):
            yield "directory", _replace(argv, action, str(files["directory"]), tiny)
        if action.dest in FILE_DESTS or (action.type is Path and action.dest not in NOT_INPUTS):
            malformed = files["malformed gguf" if action.dest == "tokenizer" else "malformed json"]
            for kind, path in (
                ("missing file", files["missing file"]),
                ("directory", files["directory"]),
                ("unreadable file", files["unreadable file"]),
                ("malformed file", malformed),
            ):
                if kind != "unreadable file" or not ROOT_READS_ALL:
                    yield kind, _replace(argv, action, str(path), tiny)
        if action.type in (int, float) and action.option_strings:
            yield "bad number", _replace(argv, action, "abc", tiny)
    if _has(parser, "port"):
        foreign = str(bad.foreign_port)
        owner = words[0] in SERVER_OWNERS
        server_argv = [words[0], str(tiny)] if words[0] == "launch" else argv
        if not owner:
            yield "no server", argv
        yield "another program on the port", [*server_argv, "--port", foreign]


def _model_cases(
    words: list[str], argv: list[str], action: argparse.Action, files: dict[str, Path], tiny: Path
) -> Iterator[tuple[str, list[str]]]:
    label = words[0] in LABEL_COMMANDS
    yield "unknown model", _replace(argv, action, "no-such-model-xyz", tiny)
    yield "missing file", _replace(argv, action, "./missing.gguf", tiny)
    for kind, value in (
        ("directory", str(files["directory"]) + "/"),
        ("malformed file", str(files["malformed gguf"])),
    ):
        yield ("unknown model" if label else kind), _replace(argv, action, value, tiny)


def all_cases(monkeypatch: pytest.MonkeyPatch, bad: Bad, tiny: Path) -> list[tuple[str, list[str]]]:
    found = []
    for words in command_paths():
        parser = parser_of(words, monkeypatch)
        subs = subparsers(parser)
        if subs and words[0] != "bench":
            for name, sub in subs.items():
                found += cases_for([*words, name], sub, bad, tiny)
        else:
            found += cases_for(words, parser, bad, tiny)
    return found


def check(argv: list[str], kind: str, capsys: pytest.CaptureFixture[str]) -> str | None:
    """None if the command failed as it should; else what went wrong."""
    try:
        code = main(argv)
    except SystemExit as exited:  # argparse's usage errors
        code = exited.code if isinstance(exited.code, int) else 1
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "error" in line]
    if "Traceback" in err or INTERNAL_ERROR in err:
        return f"{kind}: {argv}: {err.strip()[-600:]}"
    if code != EXPECTED[kind]:
        return f"{kind}: {argv}: exit {code}, not {EXPECTED[kind]}: {err.strip()[-300:]}"
    if len(lines) != 1:
        return f"{kind}: {argv}: {len(lines)} error lines: {err.strip()[-300:]}"
    return None


@pytest.fixture
def bad(home: Path, tmp_path: Path, other_program: int, monkeypatch: pytest.MonkeyPatch) -> Bad:
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("HOSTBENCH_ENGINES__READY_TIMEOUT_S", "10")
    token = home / "config" / "control-token"  # a server ran here once: clients go ahead
    token.parent.mkdir(parents=True, exist_ok=True)
    token.write_text("a-token-from-an-earlier-server\n")
    files = tmp_path / "files"
    files.mkdir()
    return Bad(files, other_program)


def test_every_subcommand_fails_cleanly_on_bad_input(
    bad: Bad, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    tiny = write_tiny_gguf(tmp_path / "tiny.gguf")
    cases = all_cases(monkeypatch, bad, tiny)
    kinds = {kind for kind, _ in cases}
    wanted = set(EXPECTED) - {"malformed config.toml"}
    assert kinds == wanted - ({"unreadable file"} if ROOT_READS_ALL else set()), kinds
    capsys.readouterr()
    problems = [p for kind, argv in cases if (p := check(argv, kind, capsys))]
    assert not problems, f"{len(problems)} of {len(cases)} cases:\n" + "\n".join(problems)


def test_a_malformed_config_file_is_one_line(
    bad: Bad, home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = home / "config" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text("[server\nport = 'eighty'\n")
    problems = []
    for words in command_paths():
        if words[0] in SERVER_OWNERS or words == ["bench", "overhead"]:
            continue
        argv = base_argv(words, parser_of(words, monkeypatch), config)
        try:
            code = main(argv)
        except SystemExit as exited:
            code = exited.code
        err = capsys.readouterr().err
        if "Traceback" in err or INTERNAL_ERROR in err:
            problems.append(f"{argv}: {err.strip()[-400:]}")
        elif code not in (ExitCode.OK, ExitCode.USAGE) and "config.toml" not in err:
            problems.append(f"{argv}: exit {code}: {err.strip()[-300:]}")
    assert not problems, "\n".join(problems)
