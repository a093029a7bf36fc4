"""Preparing a launch: resolve the model (pulling it if the catalog knows how), load the
engine adapter, resolve its options through a launch profile and the memory estimate
(refusing what cannot fit), validate them. Blocking; the server runs it off the event loop."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

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
from engines.base import EngineAdapter, MemoryPlan
from engines.registry import load_engine
from engines.supervisor import LaunchRequest
from hardware import MachineSnapshot, discover
from profiles import Locations, Settings
from profiles.library import ProfileLibrary
from profiles.planning import plan_options, shape_before_pull, shape_for_file, user_profiles_dir
from profiles.profile import DEFAULT_ENGINE
from profiles.resolver import Resolution


@dataclass(frozen=True)
class LaunchOrder:
    """What a user asked to launch, before anything is resolved."""

    model: str
    engine: str | None = None
    """Engine adapter; None: the profile's engine, else llama.cpp."""
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


def engine_for(engine: str | None, profile: str | None, locations: Locations) -> str:
    """The engine a launch uses: the one named, else the profile's, else llama.cpp."""
    if engine:
        return engine
    if profile is None:
        return DEFAULT_ENGINE
    library = ProfileLibrary.load(user_profiles_dir(locations))
    return library.engine_of(profile) or DEFAULT_ENGINE


@dataclass(frozen=True)
class Plan:
    """A launch worked out without starting anything: options with reasons, and memory."""

    engine: str
    resolution: Resolution
    memory: MemoryPlan

    @property
    def refusal(self) -> str | None:
        return self.resolution.refusal or self.memory.refusal


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

    def adapter(self, order: LaunchOrder) -> EngineAdapter:
        engine = engine_for(order.engine, order.profile, self.locations)
        return load_engine(engine, self.settings.engines, self.locations)

    def prepare(
        self,
        order: LaunchOrder,
        progress: Progress | None = None,
        cancel: threading.Event | None = None,
        *,
        on_demand: bool = False,
    ) -> LaunchRequest:
        adapter = self.adapter(order)
        adapter.parse_options(order.options)
        snapshot = discover(self.locations.models_dir)
        self._refuse_early(order, adapter, snapshot)
        model = self._locate(order, adapter, snapshot) or resolve_model(
            order.model,
            self.catalog,
            self.registry,
            self.locations.models_dir,
            progress=progress,
            cancel=cancel,
        )
        planned = self._plan(order, adapter, snapshot, model)
        if planned.refusal is not None:
            raise DoesNotFitError(planned.refusal)
        options = adapter.finalize(adapter.parse_options(planned.resolution.options), snapshot)
        name = order.name or served_name_for(order.model, model.id)
        aliases = tuple(dict.fromkeys(a for a in order.aliases if a != name))
        adapter.launch_spec(model, name, options, port=0)  # refuse what cannot run, now
        return LaunchRequest(model, adapter, options, name, aliases, planned.memory, on_demand)

    def plan(self, order: LaunchOrder, model: LocalModel | None = None) -> Plan:
        """The options `order` would run with, each with its reason, and the memory it
        would hold. Without `model` nothing is downloaded: the estimate uses the best facts
        at hand (`hostbench launch --dry-run`)."""
        adapter = self.adapter(order)
        return self._plan(order, adapter, discover(self.locations.models_dir), model)

    def _plan(
        self,
        order: LaunchOrder,
        adapter: EngineAdapter,
        snapshot: MachineSnapshot,
        model: LocalModel | None,
    ) -> Plan:
        snapshot = _pinned(snapshot, self._hint(order, adapter, snapshot).get("gpus"))
        model = model or self._locate(order, adapter, snapshot)
        resolution = self.plan_options(order, adapter, snapshot, model)
        options = adapter.parse_options(resolution.options)
        memory = adapter.memory_plan(model, options, resolution, snapshot)
        return Plan(adapter.engine_id, resolution, memory)

    def plan_options(
        self,
        order: LaunchOrder,
        adapter: EngineAdapter,
        snapshot: MachineSnapshot,
        model: LocalModel | None = None,
    ) -> Resolution:
        """Options with their reasons (profile, flags, fit estimate); nothing is downloaded
        and the engine's own memory rules are not applied (`hostbench export` plans for
        another machine)."""
        model = model or self._locate(order, adapter, snapshot)
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
            snapshot=snapshot,
            engine_id=adapter.engine_id,
        )

    def _locate(
        self, order: LaunchOrder, adapter: EngineAdapter, snapshot: MachineSnapshot
    ) -> LocalModel | None:
        """The model, where the engine finds models its own way (see `locate_model`)."""
        hint = self._hint(order, adapter, snapshot)
        return adapter.locate_model(order.model, self.catalog, hint)

    def _hint(
        self, order: LaunchOrder, adapter: EngineAdapter, snapshot: MachineSnapshot
    ) -> dict[str, object]:
        """The profile's options and the user's, before the fit estimate fills in the rest."""
        library = ProfileLibrary.load(user_profiles_dir(self.locations))
        profile = library.resolve(order.profile, snapshot, adapter.engine_id)
        return {**profile.engine, **order.options}

    def _refuse_early(
        self, order: LaunchOrder, adapter: EngineAdapter, snapshot: MachineSnapshot
    ) -> None:
        """Refuse before downloading what will not fit; a model that cannot be estimated
        yet (or found) is left to `resolve_model` to report."""
        try:
            early = self._plan(order, adapter, snapshot, None)
        except (CatalogError, OSError):
            return
        if early.refusal is not None:
            raise DoesNotFitError(early.refusal)


def _pinned(snapshot: MachineSnapshot, gpus: object) -> MachineSnapshot:
    """The machine as an engine pinned to `gpus` (e.g. "0,1") sees it: the estimate places
    layers only on those."""
    if not gpus:
        return snapshot
    wanted = {int(i) for i in str(gpus).replace(" ", "").strip("[]").split(",") if i}
    return replace(snapshot, gpus=tuple(g for g in snapshot.gpus if g.index in wanted))
