"""Settings and locations for one CLI invocation, with flags applied over the config."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import TYPE_CHECKING

from profiles import Locations, Settings

if TYPE_CHECKING:
    from control.client import ControlClient
    from storage import Store

SERVER_FLAGS = ("host", "port", "api_key", "api_key_file")


@dataclass(frozen=True)
class CliContext:
    settings: Settings
    locations: Locations

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> CliContext:
        given = {name: getattr(args, name) for name in SERVER_FLAGS if getattr(args, name, None)}
        if "api_key" in given or "api_key_file" in given:
            # A key given on the command line replaces one from the environment or config,
            # whichever of the two forms either used.
            given = {"api_key": None, "api_key_file": None, **given}
        settings = Settings(server=given) if given else Settings()
        return cls(settings, Locations.from_env())

    def server(self) -> ControlClient:
        """The control client of the hostbench server on the configured port; another
        program answering there is said as such instead of misread."""
        from control.client import ControlClient, ServerNotRunningError

        client = ControlClient(self.settings, self.locations)
        if client.probe() is None:
            raise ServerNotRunningError(
                f"no hostbench server at {client.base_url} (nothing answers there, or "
                "another program does)"
            )
        return client

    def open_store(self) -> Store:
        from storage import Store

        self.locations.ensure()
        return Store(self.locations.store_path)


def add_server_address(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("server")
    group.add_argument("--host", help="address to bind or reach (default: 127.0.0.1)")
    group.add_argument("--port", type=int, help="port of the server (default: 8080)")
    keys = group.add_mutually_exclusive_group()
    keys.add_argument(
        "--api-key-file",
        metavar="PATH",
        help="file holding the key the OpenAI endpoint requires (needed off loopback, at "
        "least 16 characters there); or set HOSTBENCH_SERVER__API_KEY",
    )
    keys.add_argument(
        "--api-key",
        metavar="KEY",
        help="the key itself; WARNING: other users see it in `ps` and it stays in shell "
        "history, prefer --api-key-file or HOSTBENCH_SERVER__API_KEY",
    )
