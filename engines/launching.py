"""Preparing a launch: resolve the model (pulling it if the catalog knows how), load the
engine adapter, validate its options. Blocking; the server runs it off the event loop."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

from bench import Store
from catalog import (
    Catalog,
    LocalModels,
    ModelRef,
    load_catalog,
    resolve_model,
)
from catalog.files import Progress
from catalog.resolve import looks_like_path
from engines.registry import load_engine
from engines.supervisor import LaunchRequest
from profiles import Locations, Settings

DEFAULT_ENGINE = "llama.cpp"


@dataclass(frozen=True)
class LaunchOrder:
    """What a user asked to launch, before anything is resolved."""

    model: str
    engine: str = DEFAULT_ENGINE
    options: Mapping[str, object] = field(default_factory=dict)
    name: str | None = None
    aliases: tuple[str, ...] = ()


def served_name_for(text: str, model_id: str) -> str:
    """Clients send back what the user typed: `smollm2-135m-instruct`, a local id..."""
    if looks_like_path(text):
        return model_id
    return str(ModelRef.parse(text)) if ":" in text else text.lower()


class Launcher:
    """Turns LaunchOrders into LaunchRequests for the supervisor."""

    def __init__(self, settings: Settings, locations: Locations, store: Store) -> None:
        self.settings = settings
        self.locations = locations
        self.registry = LocalModels(store)
        self._catalog: Catalog | None = None

    @property
    def catalog(self) -> Catalog:
        if self._catalog is None:
            self._catalog = load_catalog()
        return self._catalog

    def prepare(
        self,
        order: LaunchOrder,
        progress: Progress | None = None,
        cancel: threading.Event | None = None,
    ) -> LaunchRequest:
        adapter = load_engine(order.engine, self.settings.engines, self.locations)
        options = adapter.parse_options(order.options)
        model = resolve_model(
            order.model,
            self.catalog,
            self.registry,
            self.locations.models_dir,
            progress=progress,
            cancel=cancel,
        )
        name = order.name or served_name_for(order.model, model.id)
        aliases = tuple(dict.fromkeys(a for a in order.aliases if a != name))
        return LaunchRequest(model, adapter, options, name, aliases)
