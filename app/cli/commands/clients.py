"""`hostbench clients`: what to paste to point OpenAI- and Anthropic-compatible SDKs and
agents at this machine's endpoint, with the model names served now. Without a server the
variables still show its configured address, and the exit code is 4 (unavailable)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

import httpx

from app.cli.context import CliContext, add_server_address
from app.cli.output import print_json
from control.client import ControlClient
from errors import ExitCode
from workflows.client_env import client_setup, key_source, served_models, shell_lines


def _key_required(client: ControlClient) -> bool | None:
    """Whether the running server's model APIs refuse a request without a key."""
    try:
        status = httpx.get(client.base_url + "/v1/models", timeout=5.0).status_code
    except httpx.HTTPError:
        return None
    return status == 401


def _models(client: ControlClient) -> list[str]:
    offered = [offer.name for offer in client.pool().offered]
    return served_models(client.engines(), offered)


def run(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="hostbench clients",
        description="Print the environment variables that point OpenAI-compatible SDKs "
        "(OPENAI_*) and Anthropic-compatible SDKs and agents (ANTHROPIC_*) at the endpoint, "
        "with the models it serves now. The API key is never printed, only where it is.",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    add_server_address(parser)
    args = parser.parse_args(argv)
    ctx = CliContext.from_args(args)
    client = ControlClient(ctx.settings, ctx.locations)
    running = client.probe() is not None
    models = _models(client) if running else []
    required = _key_required(client) if running else None
    key = key_source(ctx.settings, ctx.locations, required, os.environ, bool(args.api_key))
    setup = client_setup(client.base_url, running, models, key)
    if args.json:
        print_json(setup.as_json())
    else:
        served = ", ".join(models) or "none running"
        print(f"# hostbench endpoint {client.base_url}; models: {served}")
        print(f"# API key: {key.detail}")
        print("\n".join(shell_lines(setup)))
    if running:
        return ExitCode.OK
    print(
        f"error: no hostbench server at {client.base_url} (nothing answers there, or another "
        "program does); the variables show its configured address: start it with "
        "`hostbench launch`",
        file=sys.stderr,
    )
    return ExitCode.UNAVAILABLE
