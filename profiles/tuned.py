"""Tuned profiles: launch options that `hostbench tune` measured best for one model on this
machine, with the measurements behind them and the identity of what was measured.

A tuned profile is an ordinary launch profile (`extends = "auto"`, so the hardware profile
still applies beneath it) with a `[tuned]` table. `hostbench launch MODEL` picks the one for
MODEL by itself, unless `--profile` names another; one whose recorded identity (hostbench,
engine build, CPU, GPU driver) differs from this machine's now is stale and ignored, so a
changed machine re-tunes instead of trusting old numbers (README "Tuning").
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from profiles.profile import Profile
    from profiles.resolver import Reason

TUNED_PREFIX = "tuned-"


class TunedRecord(BaseModel):
    """What a tuned profile was measured on and what it measured."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = Field(description="Local model id the settings were measured with.")
    names: list[str] = Field(default_factory=list, description="Names a launch may use for it.")
    date: str = Field(description="When it was tuned (ISO 8601, UTC).")
    identity: dict[str, str] = Field(
        description="hostbench version, engine build, CPU and GPU driver when tuned."
    )
    concurrency: int = Field(ge=1, description="The concurrent streams it was tuned for.")
    budget_s: float = Field(ge=0)
    elapsed_s: float = Field(ge=0)
    complete: bool = Field(description="False: the budget ran out before every setting.")
    default_tok_s: dict[str, float] = Field(description="Streams -> output tok/s, defaults.")
    best_tok_s: dict[str, float] = Field(description="Streams -> output tok/s, tuned.")
    skipped: list[str] = Field(default_factory=list, description="Settings not tried, and why.")
    trials: list[dict[str, Any]] = Field(default_factory=list, description="Every measurement.")


def tuned_profile_name(model_id: str) -> str:
    """`smollm2-135m-instruct:Q8_0` -> `tuned-smollm2-135m-instruct-q8_0` (a profile name)."""
    slug = re.sub(r"[^a-z0-9._-]+", "-", model_id.lower()).strip("-._")
    return TUNED_PREFIX + (slug or "model")


def find_tuned(profiles: Mapping[str, Profile], names: Iterable[str]) -> Profile | None:
    """The tuned profile recorded for any of `names` (local id or what the user typed)."""
    wanted = {name.lower() for name in names if name}
    for profile in profiles.values():
        record = profile.tuned
        if record is None:
            continue
        if wanted & {record.model.lower(), *(n.lower() for n in record.names)}:
            return profile
    return None


def stale_fields(record: TunedRecord, identity: Mapping[str, str]) -> list[str]:
    """What changed since tuning (`engine: b1 -> b2`); empty when the profile still holds."""
    keys = sorted(set(record.identity) | set(identity))
    return [
        f"{key}: {record.identity.get(key, '?')} -> {identity.get(key, '?')}"
        for key in keys
        if record.identity.get(key) != identity.get(key)
    ]


def tuned_summary(record: TunedRecord) -> str:
    """`tuned 2026-12-04: 1 stream 61.2 tok/s, 8 streams 140.3 tok/s` for launch's reasons."""
    loads = sorted(record.best_tok_s, key=int)
    parts = [f"{n} stream{'s' if n != '1' else ''} {record.best_tok_s[n]:.1f} tok/s" for n in loads]
    return f"tuned {record.date[:10]}: {', '.join(parts)}"


def annotate_reasons(reasons: dict[str, Reason], profile: Profile) -> None:
    """Each option the tuned profile set says so with its figures, in place."""
    from profiles.resolver import Origin  # profiles.profile imports this module

    if profile.tuned is None:
        return
    plain = f"profile {profile.name}"
    for key, why in reasons.items():
        if why.origin is Origin.PROFILE and why.text == plain:
            reasons[key] = replace(why, text=f"{plain} ({tuned_summary(profile.tuned)})")


def write_tuned_profile(
    directory: Path, name: str, options: Mapping[str, Any], record: TunedRecord
) -> Path:
    """Write (atomically, replacing an older one) and check that it reads back."""
    text = render_profile(name, options, record)
    tomllib.loads(text)  # never leave a file the profile loader would skip as broken
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.toml"
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    partial.write_text(text)
    partial.replace(path)
    return path


def render_profile(name: str, options: Mapping[str, Any], record: TunedRecord) -> str:
    streams = ", ".join(f"{n}: {v:.1f} tok/s" for n, v in record.best_tok_s.items())
    head = {
        "name": name,
        "description": f"Measured by hostbench tune for {record.model} ({streams}).",
        "extends": "auto",
    }
    data = record.model_dump()
    trials = data.pop("trials")
    lines = ["# Written by `hostbench tune`; re-run it rather than editing.", *_pairs(head)]
    lines += ["", "[engine]", *_pairs(options), "", "[tuned]", *_pairs(data)]
    for trial in trials:
        lines += ["", "[[tuned.trials]]", *_pairs(trial)]
    return "\n".join(lines) + "\n"


def _pairs(table: Mapping[str, Any]) -> list[str]:
    return [f"{_key(k)} = {_value(v)}" for k, v in table.items() if v is not None]


def _key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)


def _value(value: Any) -> str:
    """TOML for the plain values a profile holds (JSON's string escapes are TOML's)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value) if isinstance(value, int) else repr(float(value))
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value if v is not None) + "]"
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {type(value).__name__} to a profile")
