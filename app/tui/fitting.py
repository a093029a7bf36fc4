"""Catalog rows and fit estimates for the Catalog screen, from the functions `hostbench
catalog` and `hostbench fit` use. Blocking (headers, the store); no Textual here."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.markup import escape

from app.display.catalog_rows import entry_row, matches
from catalog import Catalog, CatalogEntry, CatalogError, LocalModels
from catalog.fit import FitOptions, estimate_cpu
from catalog.fit_target import subject_for
from catalog.model_shape import shape_from_catalog
from catalog.placement import Devices, Verdict, fit, largest_context
from hardware import MachineSnapshot
from profiles import Locations, Settings
from storage import Store

if TYPE_CHECKING:
    from catalog.hub_search import HubSearch
    from workflows.launching import Plan
    from workflows.recommend import Recommendation

log = logging.getLogger(__name__)


VERDICT_CLASS = {
    Verdict.FULL_GPU.value: "fit-gpu",
    Verdict.PARTIAL.value: "fit-partial",
    Verdict.CPU.value: "fit-cpu",
    Verdict.NO_FIT.value: "fit-none",
}
VERDICT_STYLE = {
    "fit-gpu": "bold green",
    "fit-partial": "yellow",
    "fit-cpu": "cyan",
    "fit-none": "red",
}


def registry_at(store_path: Path) -> LocalModels:
    store_path.parent.mkdir(parents=True, exist_ok=True)
    return LocalModels(Store(store_path))


def size_range(entry: CatalogEntry) -> str:
    """`4.6-8.1G (3)` over the quants the catalog lists, for a narrow table column."""
    sizes = [float(s.split()[-1].strip("~G")) for s in quant_sizes(entry).split(" · ") if " " in s]
    if not sizes:
        return "-"
    low, high = min(sizes), max(sizes)
    span = f"{low:.1f}G" if low == high else f"{low:.1f}–{high:.1f}G"
    return f"{span} ({len(sizes)})" if len(sizes) > 1 else span


def quant_sizes(entry: CatalogEntry) -> str:
    """`Q4_K_M 4.6G · Q8_0 8.1G`: the file's size where the catalog has it, else estimated
    from the quant's nominal bits per weight (marked ~)."""
    parts = []
    for quant in entry.quants or (entry.default_quant,):
        gguf = entry.gguf_file(quant)
        size: float | None = gguf.size_bytes if gguf else None
        mark = ""
        if size is None:
            try:
                size, mark = shape_from_catalog(entry, quant).file_bytes, "~"
            except Exception:  # a quant without facts still lists, without a size
                size = None
        parts.append(f"{quant} {mark}{size / 2**30:.1f}G" if size else quant)
    return " · ".join(parts)


def catalog_rows(
    catalog: Catalog, registry: LocalModels, snapshot: MachineSnapshot, n_ctx: int
) -> list[dict[str, Any]]:
    """One row per entry, as `hostbench catalog --json` has it, plus sizes per quant."""
    devices = Devices.from_snapshot(snapshot)
    options = FitOptions(n_ctx=n_ctx)
    rows = []
    for entry in catalog.entries.values():
        row = entry_row(entry, registry, options, devices, log.warning)
        verdict = (row.get("fit") or "").partition(": ")[2]
        row["verdict"] = verdict or None
        row["sizes"] = quant_sizes(entry)
        row["size_range"] = size_range(entry)
        rows.append(row)
    return rows


def filtered(rows: list[dict[str, Any]], catalog: Catalog, text: str) -> list[dict[str, Any]]:
    return [r for r in rows if matches(catalog.entries[r["id"]], text)]


@dataclass(frozen=True)
class FitDetail:
    """What the detail pane shows for one model, quant and context."""

    label: str
    verdict: str
    breakdown: dict[str, int]
    reasons: tuple[str, ...]
    largest_context: int | None
    note: str | None
    n_ctx: int


def fit_detail(
    model: str,
    catalog: Catalog,
    registry: LocalModels,
    snapshot: MachineSnapshot,
    n_ctx: int,
    *,
    n_parallel: int = 1,
) -> FitDetail:
    """`hostbench fit MODEL --ctx N` without the network: local headers, else catalog facts."""
    subject = subject_for(model, catalog, registry, remote=False)
    devices = Devices.from_snapshot(snapshot)
    options = FitOptions(n_ctx=n_ctx, n_parallel=n_parallel)
    report = fit(subject.shape, options, devices)
    ceiling = replace(subject.shape, ctx_train=subject.shape.ctx_train or 131072)
    return FitDetail(
        label=subject.label,
        verdict=report.verdict.value,
        breakdown=estimate_cpu(subject.shape, options).as_dict(),
        reasons=report.reasons,
        largest_context=largest_context(ceiling, options, devices),
        note=subject.note,
        n_ctx=n_ctx,
    )


def hub_search(query: str, cache_dir: Path, snapshot: MachineSnapshot, n_ctx: int) -> HubSearch:
    """`hostbench search QUERY --ctx N`: the Hub's answer, else the cached one."""
    from catalog.hub_search_cache import SearchCache, search_or_cached

    devices = Devices.from_snapshot(snapshot)
    return search_or_cached(query, SearchCache(cache_dir), FitOptions(n_ctx=n_ctx), devices)


def profile_names(locations: Locations) -> list[str]:
    from profiles.library import ProfileLibrary
    from profiles.planning import user_profiles_dir

    return sorted(ProfileLibrary.load(user_profiles_dir(locations)).profiles)


def plan_launch(
    model: str,
    profile: str | None,
    snapshot: MachineSnapshot,
    settings: Settings,
    locations: Locations,
    *,
    here: bool = True,
) -> Plan:
    """What `hostbench launch MODEL --dry-run` shows, by the same plan: each option's value
    and why, and the memory. No download and no network: a model not here is estimated
    from the catalog's facts. `here`: `snapshot` is this machine's, so the engine build
    that would run decides which of its GPUs count (not for a reading handed in)."""
    from workflows.launching import DEFAULT_ENGINE, Launcher, LaunchOrder

    locations.store_path.parent.mkdir(parents=True, exist_ok=True)
    launcher = Launcher(settings, locations, Store(locations.store_path))
    order = LaunchOrder(model, DEFAULT_ENGINE, profile=profile)  # as the form launches
    return launcher.plan(order, snapshot=snapshot, remote=False, here=here)


def engine_recommendation(
    model: str, catalog: Catalog, registry: LocalModels, snapshot: MachineSnapshot
) -> Recommendation | None:
    """`hostbench fit MODEL`'s engine advice for one user on this machine; None where the
    model is unknown to every engine (the launch plan already says why)."""
    from engines.errors import EngineError
    from engines.vllm import VllmEngine
    from workflows.recommend import recommend_engine

    installed = VllmEngine().availability().available
    try:
        return recommend_engine(model, catalog, registry, snapshot, vllm_installed=installed)
    except (CatalogError, EngineError):
        return None


def recommendation_note(recommendation: Recommendation, form_engine: str) -> str:
    """The recommended engine and why, as form markup; how to launch it where this form
    launches another engine."""
    lines = [f"engine [b]{recommendation.engine}[/b] recommended"]
    lines += [f"[dim]· {escape(reason)}[/dim]" for reason in recommendation.reasons]
    if recommendation.engine != form_engine:
        lines.append(
            f"[dim]this form launches {form_engine}; for {recommendation.engine}: "
            f"hostbench launch MODEL --engine {recommendation.engine}[/dim]"
        )
    return "\n".join(lines)
