"""Where hostbench keeps its files.

One variable, HOSTBENCH_HOME, relocates config, data and the store together (tests and
portable installs use it). Native builds live in the cache dir, which HOSTBENCH_HOME does
not move, so a relocated home still finds the llama.cpp binaries built for this machine.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP_NAME = "hostbench"


@dataclass(frozen=True)
class Locations:
    """The directories hostbench reads and writes, resolved once from the environment."""

    config_dir: Path
    data_dir: Path
    cache_dir: Path

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Locations:
        env = os.environ if env is None else env
        cache = Path(env.get("HOSTBENCH_CACHE_DIR") or platformdirs.user_cache_dir(APP_NAME))
        home = env.get("HOSTBENCH_HOME")
        if home:
            root = Path(home).expanduser()
            return cls(config_dir=root / "config", data_dir=root / "data", cache_dir=cache)
        return cls(
            config_dir=Path(platformdirs.user_config_dir(APP_NAME)),
            data_dir=Path(platformdirs.user_data_dir(APP_NAME)),
            cache_dir=cache,
        )

    @property
    def config_file(self) -> Path:
        return self.config_dir / "config.toml"

    @property
    def token_file(self) -> Path:
        """The control-API token, readable by the owner only (mode 0600)."""
        return self.config_dir / "control-token"

    @property
    def store_path(self) -> Path:
        return self.data_dir / "hostbench.sqlite"

    @property
    def models_dir(self) -> Path:
        """Model files hostbench fetched itself (Hugging Face pulls go to the HF cache)."""
        return self.data_dir / "models"

    @property
    def hub_search_dir(self) -> Path:
        """The last answer to each `hostbench search`, for offline use. Under the data dir,
        not the cache dir, so that it moves with HOSTBENCH_HOME like the store it
        describes models for."""
        return self.data_dir / "hub-search"

    @property
    def logs_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def build_dir(self) -> Path:
        """Native builds (llama-cpp-python wheels, llama-server), shared by every home."""
        return self.cache_dir / "build"

    def ensure(self) -> Locations:
        for directory in (self.config_dir, self.data_dir, self.models_dir, self.logs_dir):
            directory.mkdir(parents=True, exist_ok=True)
        return self
