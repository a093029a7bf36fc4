"""What `hostbench fit MODEL[:QUANT]` estimates for: the best source of facts available.

In order: a local file's header (exact); the header of the catalog's file read remotely
with range requests (exact, nothing downloaded); the catalog's facts with the quant's
nominal bits per weight (approximate, said so). A remote failure degrades to the last,
with the reason in the note.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from catalog.entry import CatalogEntry
from catalog.errors import CatalogError, QuantNotAvailableError, SourceUnavailableError
from catalog.fit import FitOptions
from catalog.gguf_info import read_gguf_info
from catalog.hub_files import HubRef, is_hub_ref, quant_from_name
from catalog.hub_pull import find_hub_model
from catalog.loader import Catalog, ModelRef
from catalog.local import LocalModels
from catalog.model_shape import ModelShape, shape_from_catalog, shape_from_gguf
from catalog.placement import Devices, FitReport, Verdict, fit
from catalog.pull import already_pulled
from catalog.quant_types import nominal_bpw, quality_rank
from catalog.resolve import looks_like_path, model_file
from catalog.sources.hf import HfFile, cached_path


@dataclass(frozen=True)
class FitSubject:
    shape: ModelShape
    label: str
    entry: CatalogEntry | None = None
    quant: str | None = None
    note: str | None = None


def shape_of_file(path: Path, label: str) -> ModelShape:
    return shape_from_gguf(read_gguf_info(path), label, path.stat().st_size)


def subject_for(
    text: str,
    catalog: Catalog,
    registry: LocalModels,
    *,
    remote: bool = True,
    hf_cache: Path | None = None,
) -> FitSubject:
    if looks_like_path(text):
        path = model_file(text)
        return FitSubject(shape_of_file(path, path.name), path.name)
    if is_hub_ref(text):
        return _hub_subject(HubRef.parse(text), registry, remote, hf_cache)
    local = registry.get(text)
    if local is not None and local.present:
        entry = catalog.entries.get(local.catalog_id or "")
        return FitSubject(shape_of_file(local.path, local.id), local.id, entry, local.quant)
    ref = ModelRef.parse(text)
    entry = catalog.get(ref.model_id)
    return _catalog_subject(entry, ref.quant or entry.default_quant, registry, remote, hf_cache)


def _catalog_subject(
    entry: CatalogEntry,
    quant: str,
    registry: LocalModels,
    remote: bool,
    hf_cache: Path | None,
) -> FitSubject:
    label = f"{entry.id}:{quant}"
    gguf = entry.gguf_file(quant)
    if gguf is None:
        if nominal_bpw(quant) is None:
            raise QuantNotAvailableError(f"{entry.id} has no {quant} file and no figure for it")
        note = f"no {quant} file in the catalog: estimated from nominal bits per weight"
        return FitSubject(shape_from_catalog(entry, quant), label, entry, quant, note)
    pulled = already_pulled(registry, entry, gguf)
    if pulled is not None:
        return FitSubject(shape_of_file(pulled.path, label), label, entry, quant)
    if gguf.repo is not None:
        target = HfFile(gguf.repo, gguf.file, cache_dir=hf_cache)
        cached = cached_path(target)
        if cached is not None:
            return FitSubject(shape_of_file(cached, label), label, entry, quant)
        if remote:
            return _remote_subject(entry, quant, target, label)
    note = "estimated from catalog facts (the file is not here)"
    return FitSubject(shape_from_catalog(entry, quant), label, entry, quant, note)


def _remote_subject(entry: CatalogEntry, quant: str, target: HfFile, label: str) -> FitSubject:
    from catalog.sources.hf_header import read_remote_gguf_info

    try:
        info, remote = read_remote_gguf_info(target)
    except CatalogError as error:
        note = f"estimated from catalog facts: the header could not be read ({error})"
        return FitSubject(shape_from_catalog(entry, quant), label, entry, quant, note)
    shape = shape_from_gguf(info, label, remote.size)
    note = f"header read from {target.repo} ({remote.size / 2**30:.2f} GiB file, not downloaded)"
    return FitSubject(shape, label, entry, quant, note)


def _hub_subject(
    ref: HubRef, registry: LocalModels, remote: bool, hf_cache: Path | None
) -> FitSubject:
    """A Hub file: its own header, from the pulled file, the HF cache, or remotely."""
    label, quant = str(ref), quant_from_name(ref.file)
    pulled = find_hub_model(registry, ref)
    target = HfFile(ref.repo, ref.file, cache_dir=hf_cache)
    path = pulled.path if pulled is not None else cached_path(target)
    if path is not None:
        return FitSubject(shape_of_file(path, label), label, quant=quant)
    if not remote:
        raise SourceUnavailableError(f"{label} is not here and remote reads are off")
    from catalog.sources.hf_header import read_remote_gguf_info

    info, got = read_remote_gguf_info(target)
    note = f"header read from {ref.repo} ({got.size / 2**30:.2f} GiB file, not downloaded)"
    return FitSubject(shape_from_gguf(info, label, got.size), label, quant=quant, note=note)


def candidate_quants(entry: CatalogEntry) -> list[str]:
    """Quants one can get: the catalog's files, or its default quant if it lists none."""
    quants = list(entry.quants) or [entry.default_quant]
    return sorted(quants, key=quality_rank, reverse=True)


def best_quant(
    entry: CatalogEntry,
    options: FitOptions,
    devices: Devices,
    shapes: dict[str, ModelShape] | None = None,
) -> tuple[str, FitReport] | None:
    """The best-quality quant fully on the GPU(s); failing that, the best that fits at all."""
    reports = []
    for quant in candidate_quants(entry):
        try:
            shape = (shapes or {}).get(quant) or shape_from_catalog(entry, quant)
        except CatalogError:
            continue
        reports.append((quant, fit(shape, options, devices)))
    full = [r for r in reports if r[1].verdict is Verdict.FULL_GPU]
    fitting = full or [r for r in reports if r[1].verdict.fits]
    return fitting[0] if fitting else None
