"""Settings and locations for one CLI invocation, with flags applied over the config."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import TYPE_CHECKING

from profiles import Locations, Settings

if TYPE_CHECKING:
    from bench import Store

SERVER_FLAGS = ("host", "port", "api_key")


@dataclass(frozen=True)
class CliContext:
    settings: Settings
    locations: Locations

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> CliContext:
        given = {name: getattr(args, name) for name in SERVER_FLAGS if getattr(args, name, None)}
        settings = Settings(server=given) if given else Settings()
        return cls(settings, Locations.from_env())

    def open_store(self) -> Store:
        from bench import Store

        self.locations.ensure()
        return Store(self.locations.store_path)


def add_server_address(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("server")
    group.add_argument("--host", help="address to bind or reach (default: 127.0.0.1)")
    group.add_argument("--port", type=int, help="port of the server (default: 8080)")
    group.add_argument("--api-key", help="key the OpenAI endpoint requires (needed off loopback)")
