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
from hardware import MachineSnapshot, discover
from profiles.library import ProfileLibrary
from profiles.locations import Locations
from profiles.resolver import Resolution, resolve_options


def user_profiles_dir(locations: Locations) -> Path:
    return locations.config_dir / "profiles"


def plan_options(
    shape: ModelShape | None,
    profile: str | None,
    *,
    explicit: Mapping[str, Any],
    defaults: Mapping[str, Any],
    locations: Locations,
    snapshot: MachineSnapshot | None = None,
) -> Resolution:
    """Resolve `profile` (None: the one matching this machine) and the options for `shape`."""
    snapshot = snapshot or discover(locations.models_dir)
    library = ProfileLibrary.load(user_profiles_dir(locations))
    resolved = library.resolve(profile, snapshot)
    return resolve_options(shape, snapshot, resolved, explicit, defaults)


def shape_for_file(path: Path, label: str) -> ModelShape | None:
    """The header's shape for a GGUF file; None for other formats (no estimate)."""
    return shape_of_file(path, label) if is_gguf(path) else None


def shape_before_pull(text: str, catalog: Catalog, registry: LocalModels) -> ModelShape:
    """The best shape available without downloading (header over HTTP, else catalog facts)."""
    return subject_for(text, catalog, registry).shape
