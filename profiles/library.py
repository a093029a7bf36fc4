"""Finding profiles (shipped, then the user's), resolving `extends`, matching hardware."""

from __future__ import annotations

import difflib
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from errors import ExitCode, HostbenchError, OpenAIType
from hardware import MachineSnapshot
from profiles.profile import (
    AUTO,
    DEFAULT_ENGINE,
    SHIPPED_DIR,
    CostSettings,
    Profile,
    ResolvedProfile,
    describe_error,
    load_profile,
    machine_gpus,
)


class ProfileError(HostbenchError, ValueError):
    """A profile that does not exist, or whose `extends` chain is broken: not found to the
    CLI, a bad request to the control API."""

    exit_code = ExitCode.NOT_FOUND
    http_status = 400
    openai_type = OpenAIType.INVALID_REQUEST


@dataclass(frozen=True)
class ProfileLibrary:
    profiles: dict[str, Profile]
    origins: dict[str, Path]
    problems: tuple[str, ...] = ()

    @classmethod
    def load(cls, user_dir: Path | None = None, shipped_dir: Path = SHIPPED_DIR) -> ProfileLibrary:
        """Shipped profiles, then the user's (a user profile replaces a shipped one of the
        same name); a broken file is reported by name and skipped."""
        profiles: dict[str, Profile] = {}
        origins: dict[str, Path] = {}
        problems: list[str] = []
        for directory in (shipped_dir, user_dir):
            for path in _toml_files(directory):
                try:
                    profile = load_profile(path)
                except (OSError, tomllib.TOMLDecodeError, ValidationError) as error:
                    problems.append(f"{path}: {describe_error(error)}")
                    continue
                profiles[profile.name] = profile
                origins[profile.name] = path
        return cls(profiles, origins, tuple(problems))

    def get(self, name: str) -> Profile:
        found = self.profiles.get(name)
        if found is None:
            close = difflib.get_close_matches(name, list(self.profiles), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise ProfileError(f"no profile {name!r}{hint} (see `hostbench profiles`)")
        return found

    def matching(self, snapshot: MachineSnapshot) -> Profile:
        """The most specific hardware profile that accepts this machine."""
        gpus, vram = machine_gpus(snapshot)
        candidates = [
            p for p in self.profiles.values() if p.match is not None and p.match.accepts(gpus, vram)
        ]
        if not candidates:
            raise ProfileError(f"no profile matches {gpus} GPU(s) with {vram:.0f} GiB")
        return max(candidates, key=lambda p: p.match.specificity if p.match else (0, 0.0))

    def resolve(
        self, name: str | None, snapshot: MachineSnapshot, engine_id: str = DEFAULT_ENGINE
    ) -> ResolvedProfile:
        """`name` with its chain applied, with the options meant for `engine_id`; None (or
        "auto") picks the matching profile."""
        chain = self._chain(name, snapshot)
        engine: dict[str, Any] = {}
        source: dict[str, str] = {}
        cost = CostSettings()
        for profile in chain:
            options = profile.options_for(engine_id)
            engine.update(options)
            source.update(dict.fromkeys(options, profile.name))
            cost = cost.merged(profile.cost)
        top = chain[-1]
        names = tuple(p.name for p in chain)
        return ResolvedProfile(
            top.name, top.description, names, engine, cost, source, engine_id=engine_id
        )

    def engine_of(self, name: str | None) -> str | None:
        """The engine a named profile (or one it extends) is for, if it says."""
        current = None if name in (None, AUTO) else self.get(str(name))
        seen: set[str] = set()
        while current is not None and current.name not in seen:
            if current.engine_name:
                return current.engine_name
            seen.add(current.name)
            parent = current.extends
            current = None if parent in (None, AUTO) else self.profiles.get(str(parent))
        return None

    def _chain(self, name: str | None, snapshot: MachineSnapshot) -> list[Profile]:
        current = self.matching(snapshot) if name in (None, AUTO) else self.get(str(name))
        chain = [current]
        while current.extends is not None:
            current = (
                self.matching(snapshot) if current.extends == AUTO else self.get(current.extends)
            )
            if current.name in {p.name for p in chain}:
                loop = f"profile {chain[0].name!r}: `extends` loops at {current.name!r}"
                raise ProfileError(loop)
            chain.append(current)
        return list(reversed(chain))


def _toml_files(directory: Path | None) -> list[Path]:
    return sorted(directory.glob("*.toml")) if directory and directory.is_dir() else []
