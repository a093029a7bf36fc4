"""A catalog entry as a row: its facts, whether it is here, its fit verdict and best quant."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from catalog import CatalogEntry, LocalModels
    from catalog.fit import FitOptions
    from catalog.placement import Devices


def matches(entry: CatalogEntry, text: str | None) -> bool:
    if not text:
        return True
    haystack = " ".join([entry.id, entry.name, entry.family, entry.license or ""]).lower()
    return all(word in haystack for word in text.lower().split())


def entry_row(
    entry: CatalogEntry,
    registry: LocalModels,
    options: FitOptions,
    devices: Devices,
    note: Callable[[str], object],
) -> dict[str, Any]:
    """The row for `entry`; an entry lacking the facts for a verdict still lists, and
    `note` is told why."""
    from catalog import CatalogError
    from catalog.fit_target import best_quant, shape_of_file
    from catalog.model_shape import shape_from_catalog
    from catalog.placement import fit
    from catalog.pull import already_pulled

    shapes = {}
    for gguf in entry.gguf:
        local = already_pulled(registry, entry, gguf)
        if local is not None:
            shapes[gguf.quant] = shape_of_file(local.path, f"{entry.id}:{gguf.quant}")
    verdict = None
    try:
        shape = shapes.get(entry.default_quant) or shape_from_catalog(entry, entry.default_quant)
        verdict = fit(shape, options, devices).verdict.value
    except CatalogError as error:  # an entry lacking facts still lists
        note(f"{entry.id}: {error}")
    best = best_quant(entry, options, devices, shapes)
    return {
        "id": entry.id,
        "name": entry.name,
        "family": entry.family,
        "params": _params(entry),
        "context": entry.max_context,
        "license": (entry.license or "").split(" (")[0] or None,
        "license_full": entry.license,
        "quants": ",".join(entry.quants) or None,
        "here": ",".join(sorted(shapes)) or None,
        "fit": f"{entry.default_quant}: {verdict}" if verdict else None,
        "best": f"{best[0]}: {best[1].verdict.value}" if best else None,
        "best_quant": best[0] if best else None,
        "facts_source": list(entry.facts_source),
    }


def _params(entry: CatalogEntry) -> str | None:
    if entry.params_total_b is None:
        return None
    total = f"{entry.params_total_b:g}B"
    return f"{total} ({entry.params_active_b:g}B active)" if entry.params_active_b else total
