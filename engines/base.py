"""The engine adapter contract: identity, declared options, and how to start the process."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from catalog import LocalModel
from profiles import EngineSettings, Locations


class EngineOptions(BaseModel):
    """Base of every engine's options. Each field's description, bounds and default
    become the CLI flag, the TUI form field and the profile key."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


@dataclass(frozen=True)
class LaunchSpec:
    """Everything the supervisor needs to run one engine process."""

    argv: tuple[str, ...]
    port: int
    health_path: str
    runtime: str
    """Which program serves, e.g. `llama-server` or `llama_cpp.server`."""
    context_limit: int
    """Tokens one request may use (prompt + completion)."""
    env: Mapping[str, str] = field(default_factory=dict)
    supports_embeddings: bool = False
    token_count_path: str | None = None
    """For runtimes that end an over-long stream silently instead of refusing it
    (llama-cpp-python): an endpoint counting tokens, so the gateway can check first."""


@dataclass(frozen=True)
class Availability:
    """Whether the engine can run here, and what it would run."""

    available: bool
    runtime: str
    detail: str


class EngineAdapter(ABC):
    """One way of running models. Subclasses are found through the `hostbench.engines`
    entry-point group; the built-in ones register the same way a plug-in would."""

    engine_id: ClassVar[str]
    display_name: ClassVar[str]
    model_formats: ClassVar[tuple[str, ...]]
    supports_gpu_offload: ClassVar[bool] = False
    supports_multi_gpu: ClassVar[bool] = False
    Options: ClassVar[type[EngineOptions]]

    def __init__(
        self, settings: EngineSettings | None = None, locations: Locations | None = None
    ) -> None:
        self.settings = settings or EngineSettings()
        self.locations = locations or Locations.from_env()

    @abstractmethod
    def availability(self) -> Availability:
        """Say whether this engine can run on this machine, without starting anything."""

    @abstractmethod
    def launch_spec(
        self, model: LocalModel, served_name: str, options: EngineOptions, port: int
    ) -> LaunchSpec:
        """Build the command line that serves `model` as `served_name` on `port`."""

    def parse_options(self, values: Mapping[str, object]) -> EngineOptions:
        return self.Options.model_validate(dict(values))

    def model_path_ok(self, path: Path) -> bool:
        return path.suffix.lower().lstrip(".") in self.model_formats
