"""Turning what a user typed (catalog id, `id:QUANT`, local id or a .gguf path) into a
local model file, pulling it first when the catalog knows where to get it."""

from __future__ import annotations

import difflib
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from catalog.errors import ModelNotFoundError
from catalog.files import Progress, sha256_of
from catalog.gguf_info import read_gguf_info
from catalog.loader import Catalog, ModelRef
from catalog.local import LocalModel, LocalModels
from catalog.pull import already_pulled, pull


def looks_like_path(text: str) -> bool:
    return text.endswith(".gguf") or "/" in text or text.startswith(".")


def register_file(
    path: Path, registry: LocalModels, progress: Progress | None = None
) -> LocalModel:
    """Register a GGUF file the user points at; hashed once, then found by path and size."""
    path = path.expanduser().resolve()
    if not path.is_file():
        raise ModelNotFoundError(str(path), [])
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
    on_retry: Callable[[str, float], None] | None = None,
) -> LocalModel:
    """The local model for `text`; catalog models missing here are pulled."""
    if looks_like_path(text):
        return register_file(Path(text), registry, progress)
    local = registry.get(text)
    if local is not None and local.present:
        return local
    ref = ModelRef.parse(text)
    if ref.model_id not in catalog.entries:
        known = list(catalog.entries) + [m.id for m in registry.all()]
        raise ModelNotFoundError(text, difflib.get_close_matches(text.lower(), known, n=3))
    entry, gguf = catalog.resolve(ref)
    return already_pulled(registry, entry, gguf) or pull(
        entry,
        gguf,
        registry,
        models_dir,
        progress=progress,
        cancel=cancel,
        hf_cache=hf_cache,
        on_retry=on_retry,
    )
