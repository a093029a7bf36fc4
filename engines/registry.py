"""Finding engine adapters through the `hostbench.engines` entry-point group.

Listing names imports nothing; loading one imports only that adapter.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points

from engines.base import EngineAdapter
from engines.errors import UnknownEngineError
from profiles import EngineSettings, Locations

ENTRY_POINT_GROUP = "hostbench.engines"


def _entry_points() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def engine_names() -> list[str]:
    return sorted(_entry_points())


def load_engine(
    name: str, settings: EngineSettings | None = None, locations: Locations | None = None
) -> EngineAdapter:
    found = _entry_points().get(name)
    if found is None:
        installed = ", ".join(engine_names()) or "none"
        raise UnknownEngineError(f"no engine {name!r} is installed; installed: {installed}")
    adapter_class = found.load()
    if not (isinstance(adapter_class, type) and issubclass(adapter_class, EngineAdapter)):
        raise UnknownEngineError(f"entry point {name!r} does not name an EngineAdapter")
    return adapter_class(settings, locations)
