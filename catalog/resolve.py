"""Turning what a user typed (catalog id, `id:QUANT`, local id, a .gguf path or a Hub file
`hf:ORG/REPO/FILE.gguf`) into a local model file, pulling it first when the catalog or the
reference says where to get it."""

from __future__ import annotations

import difflib
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from catalog.errors import CatalogError, InvalidModelFileError, ModelNotFoundError
from catalog.files import Progress, sha256_of
from catalog.gguf_info import read_gguf_info
from catalog.hub_files import HubRef, is_hub_ref
from catalog.hub_pull import find_hub_model, pull_hub_file
from catalog.loader import Catalog, ModelRef
from catalog.local import LocalModel, LocalModels
from catalog.pull import already_pulled, check_intact, pull


def looks_like_path(text: str) -> bool:
    if is_hub_ref(text):
        return False
    return text.endswith(".gguf") or "/" in text or text.startswith(".")


class ModelFileMissingError(ModelNotFoundError):
    """A path to a model file where no file is: said as such, not as an unknown model."""

    def __init__(self, path: Path) -> None:
        CatalogError.__init__(self, f"no such file: {path}")
        self.reference = str(path)
        self.suggestions: list[str] = []


def model_file(text: str | Path) -> Path:
    """The path a user typed, checked to be a file: a missing one or a directory says so."""
    path = Path(text).expanduser()
    if path.is_dir():
        raise InvalidModelFileError(f"{path} is a directory, not a GGUF file")
    if not path.exists():
        raise ModelFileMissingError(path)
    return path


def register_file(
    path: Path, registry: LocalModels, progress: Progress | None = None
) -> LocalModel:
    """Register a GGUF file the user points at; hashed once, then found by path and size."""
    path = model_file(path).resolve()
    size = path.stat().st_size
    for known in registry.all():
        if known.path == path and known.size_bytes == size:
            return known
    info = read_gguf_info(path)
    model = LocalModel(
        id=path.stem,
        path=path,
        sha256=sha256_of(path, progress),
        size_bytes=size,
        origin=f"file:{path}",
        quant=info.quant,
    )
    if registry.get(model.id) is not None:
        model = replace(model, id=f"{path.stem}-{model.sha256[:8]}")
    return registry.register(model)


def resolve_model(
    text: str,
    catalog: Catalog,
    registry: LocalModels,
    models_dir: Path,
    *,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    hf_cache: Path | None = None,
    on_retry: Callable[[str, float], object] | None = None,
    verify: bool = False,
) -> LocalModel:
    """The local model for `text`; catalog models missing here are pulled. With `verify`,
    a model already here is hashed again and refused if its file changed (`pull` does it)."""
    if looks_like_path(text):
        return register_file(Path(text), registry, progress)
    if is_hub_ref(text):
        hub = HubRef.parse(text)
        found = find_hub_model(registry, hub)
        if found is not None:
            return check_intact(found, progress) if verify else found
        return pull_hub_file(
            hub, registry, progress=progress, cancel=cancel, hf_cache=hf_cache, on_retry=on_retry
        )
    local = registry.get(text)
    if local is not None and local.present:
        return check_intact(local, progress) if verify else local
    ref = ModelRef.parse(text)
    if ref.model_id not in catalog.entries:
        known = list(catalog.entries) + [m.id for m in registry.all()]
        raise ModelNotFoundError(text, difflib.get_close_matches(text.lower(), known, n=3))
    entry, gguf = catalog.resolve(ref)
    found = already_pulled(registry, entry, gguf)
    if found is not None:
        return check_intact(found, progress) if verify else found
    return pull(
        entry,
        gguf,
        registry,
        models_dir,
        progress=progress,
        cancel=cancel,
        hf_cache=hf_cache,
        on_retry=on_retry,
    )
