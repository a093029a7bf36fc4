"""One call for the launch path: which profile applies here, and the options it yields for
a model, from its GGUF header (or the catalog's facts when the file is not here yet)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from catalog import Catalog, LocalModels
from catalog.fit_target import shape_of_file, subject_for
from catalog.gguf_info import is_gguf
from catalog.model_shape import ModelShape
from hardware import MachineSnapshot
from profiles.library import ProfileLibrary
from profiles.locations import Locations
from profiles.profile import DEFAULT_ENGINE
from profiles.resolver import EstimateKeys, Resolution, resolve_options
from profiles.tuned import annotate_reasons


def user_profiles_dir(locations: Locations) -> Path:
    return locations.config_dir / "profiles"


def load_library(locations: Locations) -> ProfileLibrary:
    """The shipped profiles and the user's."""
    return ProfileLibrary.load(user_profiles_dir(locations))


def plan_options(
    shape: ModelShape | None,
    profile: str | None,
    *,
    given: Mapping[str, Any],
    defaults: Mapping[str, Any],
    library: ProfileLibrary,
    snapshot: MachineSnapshot,
    keys: EstimateKeys | None,
    engine_id: str = DEFAULT_ENGINE,
    given_where: str = "on the command line",
) -> Resolution:
    """Resolve `profile` (None: the one matching this machine) and the options for `shape`
    on `engine_id`, whose names for what the memory estimate reads are `keys`."""
    resolved = library.resolve(profile, snapshot, engine_id)
    resolution = resolve_options(
        shape, snapshot, resolved, given, defaults, keys=keys, given_where=given_where
    )
    for name in resolved.chain:
        annotate_reasons(resolution.reasons, library.profiles[name])
    return resolution


def shape_for_file(path: Path, label: str) -> ModelShape | None:
    """The header's shape for a GGUF file; None for other formats (no estimate)."""
    return shape_of_file(path, label) if is_gguf(path) else None


def shape_before_pull(
    text: str, catalog: Catalog, registry: LocalModels, *, remote: bool = True
) -> ModelShape:
    """The best shape available without downloading: the local file's header, else (with
    `remote`) the header over HTTP, else the catalog's facts."""
    return subject_for(text, catalog, registry, remote=remote).shape
