"""`hostbench token rotate`: replace the control token; `hostbench token engine-key`: the
key the server's engines answer to."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from app.cli.output import note
from control.channel import engine_headers, write_token
from errors import ExitCode, NotFoundError
from profiles import Locations


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hostbench token",
        description="The control token: whoever can read it controls this machine's hostbench "
        "server (launch and stop engines). It lives in the config dir, mode 0600; the CLI and "
        "the workbench read it there and send it only to a server that proves it knows it.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser(
        "rotate",
        help="write a new random token (mode 0600); a running server accepts only the new "
        "one from its next request on, and refuses the old one",
        description="Write a new random control token (mode 0600) over the old one. A running "
        "server re-reads the file when it changes: the old token is refused from then on. "
        "Nothing else needs restarting; the CLI and the workbench read the new one.",
    )
    actions.add_parser(
        "engine-key",
        help="print the API key the server's engines answer to (derived from the token), to "
        "reach an engine past the server",
        description="Print the API key of the engines the server starts: each engine answers "
        "only requests that send it as 'Authorization: Bearer <key>', so no other local "
        "process and no web page can use it past the server. It is derived from the control "
        "token; engines started before the last `token rotate` keep the key they started with.",
    )
    return parser


def run(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(argv)
    path = Locations.from_env().token_file
    if args.action == "engine-key":
        return print_engine_key(path)
    write_token(path)
    note(f"wrote a new control token to {path}; the old one is no longer accepted")
    return ExitCode.OK


def print_engine_key(token_file: Path) -> int:
    headers = engine_headers(token_file)
    if not headers:
        raise NotFoundError(f"no control token at {token_file}: no server has run here yet")
    print(headers["Authorization"].removeprefix("Bearer "))
    return ExitCode.OK
