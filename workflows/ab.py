"""`bench --ab`: the same bench on two engines, one after the other, and the comparison.

The pair is the recommendation's (every engine that can run the model here, the
recommended one first) or one the user names: an engine (`hostbench engines`) or a launch
profile that names its engine (a preset such as `llama-cpp-python`, which runs
llama-cpp-python's own server through the generic OpenAI-compatible engine).

Two more kinds compare one engine with itself: with and without a draft model
(`plan_draft_ab`), and two quantizations of the model, `MODEL:A` against `MODEL:B`
(`plan_quant_ab`, both files already on this machine).

An A/B needs two engines that can run here. Where only one can, `plan_ab` refuses before
anything starts, saying which engine cannot run and why: a user who asked for a comparison
gets no half of one after minutes of waiting (`hostbench bench MODEL` benches one engine).

Each engine is started for its run and stopped after, by a `serve` function the front end
passes (the CLI starts `hostbench launch` in a child process), so only one runs at a time.
The prompt set is built once and sent unchanged to both; each run is stored as usual with
`context["ab"]` naming the pair, the arm and the A/B's id.
"""

from __future__ import annotations

import difflib
import threading
import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace

from bench.ab import LevelComparison, compare_runs
from bench.errors import BenchUnavailableError, BenchUsageError
from bench.prompts import PromptSet
from bench.runs import BenchRun
from bench.session import BenchPlan, SweepProgress
from bench.speculative import Acceptance, from_metrics
from catalog import (
    Catalog,
    CatalogError,
    LocalModels,
    ModelNotFoundError,
    ModelRef,
    load_catalog,
)
from catalog.hub_files import is_hub_ref
from catalog.quant_types import quant_type
from catalog.resolve import looks_like_path
from control.api import EngineStatus
from engines.base import Availability
from engines.registry import engine_names, load_engine
from hardware import discover
from profiles import CostDefaults, Locations, Settings
from profiles.library import ProfileError, ProfileLibrary
from profiles.planning import user_profiles_dir
from profiles.profile import DEFAULT_ENGINE
from storage import Store
from workflows.benchmarking import PreparedBench, PromptSpec, make_prompts, prepare_local, run_bench
from workflows.launching import LaunchOrder
from workflows.recommend import VLLM, EngineChoice, Recommendation, recommend_engine

ARMS = ("A", "B")


@dataclass(frozen=True)
class AbArm:
    """One side of the comparison: how to launch the model, and whether it can run here."""

    name: str
    """What the user named (or the recommendation's engine): `llama.cpp`, a preset..."""
    order: LaunchOrder
    runnable: bool
    why: str


@dataclass(frozen=True)
class AbPlan:
    model: str
    arms: tuple[AbArm, ...]
    recommendation: Recommendation
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    draft: str | None = None
    """The draft model B adds, in an A/B of speculative decoding."""
    quants: tuple[str, str] | None = None
    """The two quantizations of the model, in an A/B of quantizations (A's first)."""

    @property
    def pair(self) -> list[str]:
        return [arm.name for arm in self.arms if arm.runnable][:2]

    @property
    def skipped(self) -> tuple[AbArm, ...]:
        """Engines the recommendation lists that cannot run here (only past the pair)."""
        return tuple(arm for arm in self.arms if not arm.runnable)


@dataclass(frozen=True)
class ArmResult:
    arm: AbArm
    label: str
    """"A" or "B"."""
    status: EngineStatus
    """The engine's status when it was ready (engine, runtime, options...)."""
    version: str | None
    runs: list[BenchRun]
    acceptance: Acceptance | None = None
    """The draft's acceptance over this arm's bench (warm-up included), where the engine
    reports one (bench/speculative.py)."""


@dataclass(frozen=True)
class AbResult:
    plan: AbPlan
    arms: tuple[ArmResult, ArmResult]
    levels: list[LevelComparison]


Served = tuple[EngineStatus, str]
"""(engine status as `launch --json` prints it, OpenAI base URL)."""


@dataclass(frozen=True)
class AbSetting:
    """Where the runs happen and are stored, and the cost figures in force."""

    settings: Settings
    locations: Locations
    store: Store
    cost: CostDefaults


@dataclass
class AbHooks:
    """What the front end provides: starting a launch, progress, notes, cancellation."""

    serve: Callable[[LaunchOrder], AbstractContextManager[Served]]
    progress: Callable[[AbArm], Callable[[SweepProgress], object] | None] = lambda _arm: None
    note: Callable[[str], None] = lambda _text: None
    cancel: threading.Event | None = None


def parse_pair(text: str) -> tuple[str, str]:
    """`llama.cpp,llama-cpp-python` -> the two names, in order."""
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    if len(names) != 2 or names[0] == names[1]:
        raise BenchUsageError(
            f"--engines: {text!r}: give two different engines or presets, e.g. "
            "llama.cpp,llama-cpp-python"
        )
    return names[0], names[1]


def plan_ab(
    model: str,
    settings: Settings,
    locations: Locations,
    store: Store,
    *,
    pair: Sequence[str] | None = None,
    users: int = 1,
) -> AbPlan:
    """The two arms, checked; refuses (BenchUnavailableError) unless both can run here."""
    recommendation = recommend_here(model, store, locations, users)
    if pair is None:
        arms = tuple(_recommended_arm(model, c) for c in recommendation.choices)
    else:
        library = ProfileLibrary.load(user_profiles_dir(locations))
        arms = tuple(
            _named_arm(
                model,
                name,
                recommendation=recommendation,
                library=library,
                settings=settings,
                locations=locations,
            )
            for name in pair
        )
    plan = AbPlan(model, arms, recommendation)
    refuse_unless_two_run(plan, pair is None)
    return plan


def plan_draft_ab(
    model: str,
    draft: str,
    settings: Settings,
    locations: Locations,
    store: Store,
    *,
    engine: str | None = None,
    users: int = 1,
) -> AbPlan:
    """A: the model alone; B: the same engine with `draft` as its draft model (the option
    its adapter declares as `draft_option`). Refused where the engine has no draft."""
    if not draft.strip():
        raise BenchUsageError("--draft-model: name the draft model, e.g. --draft-model MODEL")
    name = engine or DEFAULT_ENGINE
    adapter = load_engine(name, settings.engines, locations)
    option = adapter.Options.draft_option
    if option is None:
        raise BenchUsageError(f"--draft-model: {name} has no draft model option")
    found = adapter.availability()
    plain = AbArm("no draft", LaunchOrder(model, name), found.available, found.detail)
    drafted = AbArm(
        f"draft {draft}",
        LaunchOrder(model, name, options={option: draft}),
        found.available,
        found.detail,
    )
    recommendation = recommend_here(model, store, locations, users)
    plan = AbPlan(model, (plain, drafted), recommendation, draft=draft)
    refuse_unless_two_run(plan, False)
    return plan


def plan_quant_ab(
    model: str,
    quants: tuple[str, str],
    settings: Settings,
    locations: Locations,
    store: Store,
    *,
    engine: str | None = None,
    users: int = 1,
) -> AbPlan:
    """A and B: the same model in two quantizations (`MODEL:QUANT`), on one engine. Refused
    before anything starts unless both are on this machine, saying how to get each
    (`hostbench pull`, or `hostbench quantize` from a local copy in seconds)."""
    catalog, registry = load_catalog(), LocalModels(store)
    base = _model_with_quants(model, catalog, registry)
    name = engine or DEFAULT_ENGINE
    found = load_engine(name, settings.engines, locations).availability()
    arms = tuple(
        _quant_arm(LaunchOrder(f"{base}:{quant}", name), found, catalog, registry)
        for quant in quants
    )
    recommendation = recommend_here(base, store, locations, users)
    plan = AbPlan(base, arms, recommendation, quants=quants)
    refuse_unless_two_run(plan, False)
    return plan


def _model_with_quants(model: str, catalog: Catalog, registry: LocalModels) -> str:
    """The model id whose `ID:TYPE` files the A/B runs: a catalog id, or the base of local
    ids. A file path or Hub reference names one file, not a model with types."""
    if looks_like_path(model) or is_hub_ref(model):
        raise BenchUsageError(
            f"--quants compares two types of one model id, not a file ({model}): give each "
            "type an id with `hostbench quantize FILE --to TYPE --id NAME:TYPE`, then bench NAME"
        )
    base = ModelRef.parse(model).model_id
    catalog_ids = list(catalog.entries)
    local_ids = [m.id for m in registry.all()]
    if base in catalog_ids or any(i.lower().startswith(f"{base}:") for i in local_ids):
        return base
    known = catalog_ids + [ModelRef.parse(i).model_id for i in local_ids]
    raise ModelNotFoundError(base, difflib.get_close_matches(base, sorted(set(known)), n=3))


def parse_quants(text: str) -> tuple[str, str]:
    """`Q4_1,q4_0` -> ("Q4_1", "Q4_0"): two different known quantization types."""
    names = tuple(part.strip().upper() for part in text.split(",") if part.strip())
    if len(names) != 2 or names[0] == names[1]:
        raise BenchUsageError(f"--quants: {text!r}: give two different types, e.g. Q4_1,Q4_0")
    for name in names:
        try:
            quant_type(name)
        except CatalogError as error:
            raise BenchUsageError(f"--quants: {error}") from None
    return names[0], names[1]


def _quant_arm(
    order: LaunchOrder, engine: Availability, catalog: Catalog, registry: LocalModels
) -> AbArm:
    """One quantization (`order.model` is MODEL:QUANT): runnable where the engine is and
    the file is already here. Nothing is pulled in the middle of an A/B: the comparison
    would fail after A's minutes of measuring should B's download fail."""
    ref = ModelRef.parse(order.model)
    quant = str(ref.quant)
    local = registry.get(order.model)
    if local is not None and local.present:
        why = f"{local.path.name} on {order.engine}: {engine.detail}"
        return AbArm(quant, order, engine.available, why)
    entry = catalog.entries.get(ref.model_id)
    if entry is not None and entry.gguf_file(quant) is not None:
        get = f"hostbench pull {order.model}"
    else:
        get = f"hostbench quantize {ref.model_id} --to {quant}"
    return AbArm(quant, order, False, f"{order.model} is not on this machine: {get}")


def recommend_here(model: str, store: Store, locations: Locations, users: int) -> Recommendation:
    from engines.vllm import VllmEngine

    snapshot = discover(locations.models_dir)
    installed = VllmEngine().availability().available
    return recommend_engine(
        model, load_catalog(), LocalModels(store), snapshot, users=users, vllm_installed=installed
    )


def _recommended_arm(model: str, choice: EngineChoice) -> AbArm:
    return AbArm(choice.engine, LaunchOrder(model, choice.engine), choice.runnable, choice.why)


def _named_arm(
    model: str,
    name: str,
    *,
    recommendation: Recommendation,
    library: ProfileLibrary,
    settings: Settings,
    locations: Locations,
) -> AbArm:
    """An engine by name, else a launch profile that names its engine (a preset)."""
    if name in engine_names():
        engine, profile = name, None
    else:
        engine, profile = _preset_engine(name, library), name
    if engine == VLLM:
        choice = next(c for c in recommendation.choices if c.engine == VLLM)
        return AbArm(name, LaunchOrder(model, engine, profile=profile), choice.runnable, choice.why)
    found = load_engine(engine, settings.engines, locations).availability()
    why = found.detail if profile is None else f"preset {profile} on {engine}: {found.detail}"
    return AbArm(name, LaunchOrder(model, engine, profile=profile), found.available, why)


def _preset_engine(name: str, library: ProfileLibrary) -> str:
    try:
        engine = library.engine_of(name)
    except ProfileError:
        engine = None
    if engine is None:
        presets = sorted(p for p in library.profiles if library.engine_of(p))
        raise BenchUsageError(
            f"--engines: {name!r} is neither an engine ({', '.join(engine_names())}) nor a "
            f"launch profile that names one ({', '.join(presets)})"
        )
    return engine


def refuse_unless_two_run(plan: AbPlan, recommended: bool) -> None:
    able = [arm for arm in plan.arms if arm.runnable]
    if len(able) >= 2:
        return
    cannot = [f"  {arm.name} cannot: {arm.why}" for arm in plan.arms if not arm.runnable]
    can = f"only {able[0].name} can" if able else "none of them can"
    if plan.quants is not None:
        head = f"an A/B needs both quantizations of {plan.model} ready to run here, and {can}:"
        hint = "get what is missing as shown"
        alone = "bench one quantization"
    else:
        head = f"an A/B needs two engines that can run {plan.model} here, and {can}:"
        hint = (
            "name a pair that runs here, e.g. --engines llama.cpp,llama-cpp-python "
            "(llama.cpp's runtime vs llama-cpp-python's own server through the generic engine)"
            if recommended
            else "pick engines that run here (hostbench engines; presets: hostbench profiles)"
        )
        alone = "bench one engine"
    lines = [
        head,
        *cannot,
        f"  {hint.capitalize()}, or {alone}: hostbench bench {plan.model}",
    ]
    raise BenchUnavailableError("\n".join(lines))


def run_ab(
    plan: AbPlan,
    bench_plan: BenchPlan,
    spec: PromptSpec,
    setting: AbSetting,
    hooks: AbHooks,
) -> AbResult:
    """A, then B: each started, benched with the same prompts, stopped; then compared.
    Blocking (for the CLI and thread workers). A's runs stay stored if B fails."""
    session = _AbSession(plan, bench_plan, spec, setting, hooks)
    able = [arm for arm in plan.arms if arm.runnable][:2]
    first, second = (session.run_arm(label, arm) for label, arm in zip(ARMS, able, strict=True))
    return AbResult(plan, (first, second), compare_runs(first.runs, second.runs))


@dataclass
class _AbSession:
    plan: AbPlan
    bench_plan: BenchPlan
    spec: PromptSpec
    setting: AbSetting
    hooks: AbHooks
    prompts: PromptSet | None = None
    """Built once, from the first engine's tokenizer, and sent unchanged to both."""

    def run_arm(self, label: str, arm: AbArm) -> ArmResult:
        setting, hooks = self.setting, self.hooks
        where = arm.order.profile or arm.order.engine
        hooks.note(f"{label}: starting {arm.order.model} on {where} ...")
        with hooks.serve(arm.order) as (status, base_url):
            prepared = prepare_local(
                setting.settings, setting.locations, setting.store, status, base_url
            )
            tagged = _tagged(prepared, self.plan, arm, label)
            before = read_acceptance(base_url, prepared.target.api_key)
            runs = run_bench(
                tagged,
                self.bench_plan,
                self.prompts_for(prepared, arm),
                setting.store,
                setting.cost,
                progress=hooks.progress(arm),
                cancel=hooks.cancel,
            )
            after = read_acceptance(base_url, prepared.target.api_key)
        hooks.note(f"{label}: {arm.name} stored as runs {_ids(runs)}")
        version = (tagged.context.get("engine") or {}).get("version")
        acceptance = after - before if after and before else after
        return ArmResult(arm, label, status, version, runs, acceptance)

    def prompts_for(self, prepared: PreparedBench, arm: AbArm) -> PromptSet:
        if self.prompts is None:
            self.prompts = make_prompts(self.spec, self.bench_plan, prepared.tokenizer)
            if prepared.tokenizer is None:
                self.hooks.note(f"{arm.name} has no GGUF tokenizer: prompt lengths approximate")
        return self.prompts


def _tagged(prepared: PreparedBench, plan: AbPlan, arm: AbArm, label: str) -> PreparedBench:
    """The run context with the A/B it belongs to, so `bench list` and `show` say so."""
    ab = {"id": plan.id, "arm": label, "name": arm.name, "pair": plan.pair}
    return replace(prepared, context={**prepared.context, "ab": ab})


def read_acceptance(base_url: str, api_key: str | None) -> Acceptance | None:
    """The draft counters on the hostbench server's `/metrics` (`base_url` ends in /v1);
    None where it has none or cannot be read."""
    import httpx

    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        reply = httpx.get(base_url.removesuffix("/v1") + "/metrics", headers=headers, timeout=10)
    except httpx.HTTPError:
        return None
    return from_metrics(reply.text) if reply.status_code == 200 else None


def _ids(runs: Sequence[BenchRun]) -> str:
    return ", ".join(str(run.id) for run in runs)
