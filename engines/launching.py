"""Preparing a launch: resolve the model (pulling it if the catalog knows how), load the
engine adapter, resolve its options through a launch profile and the memory estimate
(refusing what cannot fit), validate them. Blocking; the server runs it off the event loop."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

from bench import Store
from catalog import (
    Catalog,
    CatalogError,
    DoesNotFitError,
    LocalModel,
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
from profiles.planning import plan_options, shape_before_pull, shape_for_file
from profiles.resolver import Resolution

DEFAULT_ENGINE = "llama.cpp"


@dataclass(frozen=True)
class LaunchOrder:
    """What a user asked to launch, before anything is resolved."""

    model: str
    engine: str = DEFAULT_ENGINE
    options: Mapping[str, object] = field(default_factory=dict)
    name: str | None = None
    aliases: tuple[str, ...] = ()
    profile: str | None = None
    """Launch profile; None picks the one matching this machine's hardware."""


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
        adapter.parse_options(order.options)
        self._refuse_early(order)
        model = resolve_model(
            order.model,
            self.catalog,
            self.registry,
            self.locations.models_dir,
            progress=progress,
            cancel=cancel,
        )
        resolution = self.plan(order, model)
        if resolution.refusal is not None:
            raise DoesNotFitError(resolution.refusal)
        options = adapter.parse_options(resolution.options)
        name = order.name or served_name_for(order.model, model.id)
        aliases = tuple(dict.fromkeys(a for a in order.aliases if a != name))
        adapter.launch_spec(model, name, options, port=0)  # refuse what cannot run, now
        return LaunchRequest(model, adapter, options, name, aliases)

    def plan(self, order: LaunchOrder, model: LocalModel | None = None) -> Resolution:
        """The options `order` would run with, each with its reason. Without `model` nothing
        is downloaded: the estimate uses the best facts at hand (`hostbench launch --dry-run`)."""
        adapter = load_engine(order.engine, self.settings.engines, self.locations)
        shape = (
            shape_before_pull(order.model, self.catalog, self.registry)
            if model is None
            else shape_for_file(model.path, model.id)
        )
        return plan_options(
            shape,
            order.profile,
            explicit=order.options,
            defaults=adapter.parse_options({}).model_dump(),
            locations=self.locations,
        )

    def _refuse_early(self, order: LaunchOrder) -> None:
        """Refuse before downloading what will not fit; a model that cannot be estimated
        yet (or found) is left to `resolve_model` to report."""
        try:
            early = self.plan(order)
        except (CatalogError, OSError):
            return
        if early.refusal is not None:
            raise DoesNotFitError(early.refusal)
