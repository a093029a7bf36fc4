"""Local models (and GGUF files in the Hugging Face cache) as rows."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from app.display.numbers import human_bytes

if TYPE_CHECKING:
    from catalog import LocalModel
    from catalog.hf_cache import CachedGguf


def _repo(model: LocalModel) -> str | None:
    return (model.lineage or {}).get("repo")


def model_row(model: LocalModel, short: bool = True) -> dict[str, Any]:
    return {
        "id": model.id,
        "catalog": model.catalog_id,
        "quant": model.quant,
        "size": human_bytes(model.size_bytes) if short else model.size_bytes,
        "sha256": model.sha256[:12] if short else model.sha256,
        "origin": model.origin,
        "repo": _repo(model),
        "file": model.path.name if short else str(model.path),
        "path": str(model.path),
        "present": model.present,
        "registered": True,
    }


def cached_row(found: CachedGguf, short: bool = True) -> dict[str, Any]:
    sha = found.blob.name
    return {
        "id": f"(hf cache) {found.repo}",
        "catalog": None,
        "quant": None,
        "size": human_bytes(found.size_bytes) if short else found.size_bytes,
        "sha256": sha[:12] if short else sha,
        "origin": "hf-cache (not registered)",
        "repo": found.repo,
        "file": found.filename if short else str(found.path),
        "path": str(found.path),
        "present": True,
        "registered": False,
    }
