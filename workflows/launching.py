"""Preparing a launch: resolve the model (pulling it if the catalog knows how), load the
engine adapter, resolve its options through a launch profile and the memory estimate
(refusing what cannot fit), validate them. Blocking; the server runs it off the event loop."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

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
from catalog.fit_draft import draft_need, draft_refusal, with_draft_report
from catalog.hub_files import HubRef, is_hub_ref
from catalog.hub_pull import find_hub_model
from catalog.model_shape import ModelShape
from catalog.pull import already_pulled
from catalog.resolve import looks_like_path
from control.api import LaunchBody
from control.requests import refuse_masked_secrets
from engines.base import EngineAdapter, EngineOptions, MemoryPlan
from engines.registry import load_engine
from engines.supervisor import LaunchRequest
from hardware import BackendStatus, MachineSnapshot, discover
from profiles import Locations, Settings
from profiles.library import ProfileLibrary
from profiles.planning import load_library, plan_options, shape_before_pull, shape_for_file
from profiles.profile import DEFAULT_ENGINE
from profiles.resolver import Resolution
from storage import Store


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
    given_where: str = "in the launch request"
    """Where `options` were given, for their reasons: "on the command line", ..."""
    idle_ttl_s: float | None = None
    """Sleep after this long idle and wake on the next request (None: never)."""

    @classmethod
    def from_body(cls, body: LaunchBody) -> LaunchOrder:
        """A launch asked over the control API."""
        return cls(
            body.model, body.engine, body.options, body.name, tuple(body.aliases), body.profile,
            idle_ttl_s=body.idle_ttl_s,
        )  # fmt: skip

    def known_names(self) -> tuple[str, ...]:
        """The names it will be served under that are known before it is resolved (the
        model id of a path or a Hub file is not: a clash of ids gives it a suffix)."""
        if self.name:
            first: tuple[str, ...] = (self.name,)
        else:
            unknown = looks_like_path(self.model) or is_hub_ref(self.model)
            first = () if unknown else (served_name_for(self.model, ""),)
        return (*first, *self.aliases)

    def body(self) -> LaunchBody:
        """This order as the control API's launch body (control/api.py)."""
        return LaunchBody(
            model=self.model,
            engine=self.engine,
            options=dict(self.options),
            name=self.name,
            aliases=list(self.aliases),
            profile=self.profile,
            idle_ttl_s=self.idle_ttl_s,
        )


def served_name_for(text: str, model_id: str) -> str:
    """Clients send back what the user typed: `smollm2-135m-instruct`, a local id..."""
    if looks_like_path(text) or is_hub_ref(text):
        return model_id
    return str(ModelRef.parse(text)) if ":" in text else text.lower()


def engine_for(
    engine: str | None,
    profile: str | None,
    locations: Locations,
    library: ProfileLibrary | None = None,
) -> str:
    """The engine a launch uses: the one named, else the profile's, else llama.cpp.
    `library`: the profiles already loaded (else they are loaded when a profile is named)."""
    if engine:
        return engine
    if profile is None:
        return DEFAULT_ENGINE
    library = library or load_library(locations)
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


@dataclass(frozen=True)
class _Scope:
    """What one plan (or one launch) works from, each read once: the order, its engine,
    the machine and the profiles."""

    order: LaunchOrder
    adapter: EngineAdapter
    snapshot: MachineSnapshot
    library: ProfileLibrary
    remote: bool = True
    """Whether a model not here may have its header read over HTTP for the estimate."""


class Launcher:
    """Turns LaunchOrders into Plans and LaunchRequests for the supervisor: `plan` is the
    one way a launch is planned (`launch --dry-run`, the workbench's form, `prepare` for the
    CLI, the server and the pool)."""

    def __init__(
        self,
        settings: Settings,
        locations: Locations,
        store: Store,
        *,
        profiles: Callable[[], ProfileLibrary] | None = None,
    ) -> None:
        self.settings = settings
        self.locations = locations
        self.registry = LocalModels(store)
        self.load_profiles = profiles or partial(load_library, locations)
        """Reads the profile library; called once per plan or launch."""
        self._catalog: Catalog | None = None
        self.notes: list[str] = []
        """One line each for the user: a tuned profile used, or one ignored as stale."""

    @property
    def catalog(self) -> Catalog:
        if self._catalog is None:
            self._catalog = load_catalog()
        return self._catalog

    def could_launch(self, name: str) -> bool:
        """Whether `name` names a catalog model or a local one, with or without its quant:
        what `hostbench launch NAME` could be starting."""
        base = name.split(":", 1)[0].lower()
        if base in self.catalog.entries:
            return True
        return any(m.id.split(":", 1)[0].lower() == base for m in self.registry.all())

    def adapter(self, order: LaunchOrder, library: ProfileLibrary | None = None) -> EngineAdapter:
        engine = engine_for(order.engine, order.profile, self.locations, library)
        return load_engine(engine, self.settings.engines, self.locations)

    def plan(
        self,
        order: LaunchOrder,
        model: LocalModel | None = None,
        *,
        snapshot: MachineSnapshot | None = None,
        remote: bool = True,
        here: bool | None = None,
    ) -> Plan:
        """The options `order` would run with, each with its reason, and the memory it
        would hold. Without `model` nothing is downloaded: the estimate uses the best facts
        at hand, the header over HTTP only with `remote`. `snapshot`: the machine as read
        already (else it is read now). `here`: whether that machine is this one, so that
        the engine's own program here decides which of its GPUs count (default: only when
        the machine is read now; `launch --dry-run --machine` plans for another one)."""
        here = snapshot is None if here is None else here
        return self._plan(self._scope(order, snapshot, remote, here), model)

    def prepare(
        self,
        order: LaunchOrder,
        progress: Progress | None = None,
        cancel: threading.Event | None = None,
        *,
        on_demand: bool = False,
    ) -> LaunchRequest:
        """Plan `order` and check what it would run. A model not here is planned from the
        facts at hand first (refused before any download if it cannot fit), then planned
        again from its own file once downloaded; a model here is planned once."""
        scope = self._scope(order, None, here=True)
        adapter = scope.adapter
        refuse_masked_secrets(adapter.parse_options(order.options))  # before any download
        model = self._locate(scope) or self._here(order.model)
        planned = self._early_plan(scope, model)
        if planned is None or model is None:  # downloaded now: plan from its own file
            model = model or resolve_model(
                order.model,
                self.catalog,
                self.registry,
                self.locations.models_dir,
                progress=progress,
                cancel=cancel,
            )
            planned = _refused(self._plan(scope, model))
        options = adapter.parse_options(planned.resolution.options)
        options = adapter.finalize(options, scope.snapshot)
        options = self._with_draft(scope, options, progress, cancel)
        refuse_masked_secrets(options)
        name = order.name or served_name_for(order.model, model.id)
        aliases = tuple(dict.fromkeys(a for a in order.aliases if a != name))
        adapter.launch_spec(model, name, options, port=0)  # refuse what cannot run, now
        return LaunchRequest(
            model, adapter, options, name, aliases, planned.memory, on_demand, order.idle_ttl_s
        )

    def plan_options(
        self,
        order: LaunchOrder,
        adapter: EngineAdapter,
        snapshot: MachineSnapshot,
    ) -> Resolution:
        """Options with their reasons (profile, given options, fit estimate); nothing is
        downloaded and the engine's own memory rules are not applied (`hostbench export`
        plans for another machine)."""
        scope = _Scope(order, adapter, snapshot, self.load_profiles())
        return self._resolve(scope, snapshot, self._locate(scope))

    def _scope(
        self,
        order: LaunchOrder,
        snapshot: MachineSnapshot | None,
        remote: bool = True,
        here: bool = False,
    ) -> _Scope:
        library = self.load_profiles()
        adapter = self.adapter(order, library)
        snapshot = snapshot or discover(self.locations.models_dir)
        snapshot = self._usable_by(adapter, snapshot) if here else snapshot
        return _Scope(order, adapter, snapshot, library, remote)

    def _usable_by(self, adapter: EngineAdapter, snapshot: MachineSnapshot) -> MachineSnapshot:
        """This machine as the program that will serve can use it: a CPU-only llama.cpp
        build on a Mac or a GPU machine offloads nothing, so the plan gets no GPU (the
        profile matches a machine without GPU, and a note says why). A program that cannot
        be asked keeps the GPUs found, as before, with a note."""
        if not snapshot.gpus:
            return snapshot
        check = adapter.offload_check()
        if check.refusal is None:
            self._note(check.note)
            return snapshot
        names = ", ".join(g.name for g in snapshot.gpus)
        engine = adapter.display_name
        self._note(f"planned without the GPUs found ({names}): {engine}: {check.refusal}")
        status = BackendStatus(engine, available=False, reason=check.refusal)
        return replace(snapshot, gpus=(), backends=(status,))

    def _note(self, line: str | None) -> None:
        """Tell the user `line` once per launcher (a plan and its launch may both find it)."""
        if line is not None and line not in self.notes:
            self.notes.append(line)

    def _early_plan(self, scope: _Scope, here: LocalModel | None) -> Plan | None:
        """The plan before any download, refusing what will not fit; a model that is not
        here and cannot be estimated yet (or found) is left to `resolve_model` to report."""
        try:
            planned = self._plan(scope, here)
        except (CatalogError, OSError):
            if here is not None:
                raise
            return None
        return _refused(planned)

    def _plan(self, scope: _Scope, model: LocalModel | None) -> Plan:
        adapter = scope.adapter
        snapshot = _pinned(scope.snapshot, self._hint(scope).get("gpus"))
        model = model or self._locate(scope)
        resolution = self._resolve(scope, snapshot, model)
        options = adapter.parse_options(resolution.options)
        resolution, note = self._count_draft(scope, resolution, options)
        memory = adapter.memory_plan(model, options, resolution, snapshot)
        memory = replace(memory, basis=f"{memory.basis}; {note}") if note else memory
        return Plan(adapter.engine_id, resolution, memory)

    def _count_draft(
        self, scope: _Scope, resolution: Resolution, options: EngineOptions
    ) -> tuple[Resolution, str | None]:
        """The resolution with the draft model's weights and KV in its estimate (see
        catalog/fit_draft.py), and what was counted; unchanged without a draft."""
        text = draft_of(options)
        if text is None:
            return resolution, None
        report = resolution.report
        if report is None:
            return resolution, f"the draft {text} is not estimated (no estimate for this engine)"
        need = draft_need(self._draft_shape(text, scope.remote), report.options)
        label = Path(text).name
        counted = with_draft_report(report, need)
        refusal = resolution.refusal or draft_refusal(counted, need, label)
        return replace(resolution, report=counted, refusal=refusal), need.basis(label)

    def _draft_shape(self, text: str, remote: bool) -> ModelShape:
        path = Path(text)
        shape = shape_for_file(path, path.stem) if path.is_file() else None
        return shape or shape_before_pull(text, self.catalog, self.registry, remote=remote)

    def _with_draft(
        self,
        scope: _Scope,
        options: EngineOptions,
        progress: Progress | None,
        cancel: threading.Event | None,
    ) -> EngineOptions:
        """`options` with the draft model resolved (pulled if need be) like the model, and
        named as the engine takes it (a file path for llama.cpp)."""
        text = draft_of(options)
        if text is None:
            return options
        adapter = scope.adapter
        draft = (
            adapter.locate_model(text, self.catalog, {})
            or self._here(text)
            or resolve_model(
                text,
                self.catalog,
                self.registry,
                self.locations.models_dir,
                progress=progress,
                cancel=cancel,
            )
        )
        name = type(options).draft_option
        assert name is not None
        return options.model_copy(update={name: adapter.model_argument(draft)})

    def _resolve(
        self, scope: _Scope, snapshot: MachineSnapshot, model: LocalModel | None
    ) -> Resolution:
        order, adapter = scope.order, scope.adapter
        shape = (
            shape_before_pull(order.model, self.catalog, self.registry, remote=scope.remote)
            if model is None
            else shape_for_file(model.path, model.id)
        )
        return plan_options(
            shape,
            self._profile_for(scope, snapshot, model),
            given=_checked(adapter, order.options),
            defaults=adapter.parse_options({}).model_dump(),
            library=scope.library,
            snapshot=snapshot,
            keys=adapter.Options.estimate_keys,
            engine_id=adapter.engine_id,
            given_where=order.given_where,
        )

    def _here(self, text: str) -> LocalModel | None:
        """The model when it is here already, found without downloading or hashing: a
        registered file, a local id, a catalog model pulled before."""
        if looks_like_path(text):
            path = Path(text).expanduser()
            if not path.is_file():
                return None
            path, size = path.resolve(), path.stat().st_size
            known = (m for m in self.registry.all() if m.path == path and m.size_bytes == size)
            return next(known, None)
        if is_hub_ref(text):
            return find_hub_model(self.registry, HubRef.parse(text))
        local = self.registry.get(text)
        if local is not None and local.present:
            return local
        try:
            entry, gguf = self.catalog.resolve(ModelRef.parse(text))
        except CatalogError:
            return None
        return already_pulled(self.registry, entry, gguf)

    def _locate(self, scope: _Scope) -> LocalModel | None:
        """The model, where the engine finds models its own way (see `locate_model`)."""
        return scope.adapter.locate_model(scope.order.model, self.catalog, self._hint(scope))

    def _hint(self, scope: _Scope) -> dict[str, object]:
        """The profile's options and the given ones, before the fit estimate fills in the
        rest."""
        name = self._profile_for(scope, scope.snapshot, None)
        profile = scope.library.resolve(name, scope.snapshot, scope.adapter.engine_id)
        return {**profile.engine, **scope.order.options}

    def _profile_for(
        self, scope: _Scope, snapshot: MachineSnapshot, model: LocalModel | None
    ) -> str | None:
        """The profile asked for; without one, a tuned profile for this model that still
        matches this machine (README "Tuning"), else None (the hardware's profile)."""
        order, adapter = scope.order, scope.adapter
        if order.profile is not None:
            return order.profile
        from workflows.tuning.identity import machine_identity, pick_tuned

        known = (served_name_for(order.model, model.id), model.id) if model else ()
        identity = lambda: machine_identity(adapter, snapshot)  # noqa: E731 -- read lazily
        name, note = pick_tuned(scope.library, (order.model, *known), identity)
        if note is not None and note not in self.notes:
            self.notes.append(note)
        return name


def draft_of(options: EngineOptions) -> str | None:
    """The draft model `options` name, where the engine has a draft option and it is set."""
    name = type(options).draft_option
    value = getattr(options, name) if name else None
    return None if value is None else str(value)


def _checked(adapter: EngineAdapter, given: Mapping[str, Any]) -> dict[str, Any]:
    """The options given, checked by the engine's own declaration before the plan reads
    them (`--parallel abc` is the engine's clear refusal, not a failed int() in the
    estimate), as the typed values it declares."""
    parsed = adapter.parse_options(given)
    return parsed.model_dump(include=set(given))


def _refused(planned: Plan) -> Plan:
    """`planned`, unless it cannot fit."""
    if planned.refusal is not None:
        raise DoesNotFitError(planned.refusal)
    return planned


def _pinned(snapshot: MachineSnapshot, gpus: object) -> MachineSnapshot:
    """The machine as an engine pinned to `gpus` (e.g. "0,1") sees it: the estimate places
    layers only on those."""
    if not gpus:
        return snapshot
    wanted = {int(i) for i in str(gpus).replace(" ", "").strip("[]").split(",") if i}
    return replace(snapshot, gpus=tuple(g for g in snapshot.gpus if g.index in wanted))
