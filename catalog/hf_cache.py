"""GGUF files in the user's Hugging Face cache: listing them, and removing one safely.

The cache is shared with other tools (transformers, llama.cpp's -hf, LM Studio imports),
so hostbench deletes from it only when asked, and then only the snapshot link it names and
the blob when no other snapshot still points at it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from catalog.sources.hf import hf_cache_dir


@dataclass(frozen=True)
class CachedGguf:
    repo: str
    filename: str
    path: Path
    """The snapshot path (a link to the blob), as tools open it."""
    blob: Path
    size_bytes: int
    commit: str


def cached_ggufs(cache_dir: Path | None = None) -> list[CachedGguf]:
    """Every .gguf in the cache, one row per snapshot file; empty if there is no cache."""
    from huggingface_hub import scan_cache_dir
    from huggingface_hub.errors import CacheNotFound

    try:
        info = scan_cache_dir(cache_dir or hf_cache_dir())
    except CacheNotFound:
        return []
    found: list[CachedGguf] = []
    for repo in info.repos:
        if repo.repo_type != "model":
            continue
        for revision in repo.revisions:
            found.extend(
                CachedGguf(
                    repo.repo_id,
                    f.file_name,
                    Path(f.file_path),
                    Path(f.blob_path),
                    f.size_on_disk,
                    revision.commit_hash,
                )
                for f in revision.files
                if f.file_name.lower().endswith(".gguf")
            )
    return sorted(found, key=lambda c: (c.repo, c.filename))


def in_cache(path: Path, cache_dir: Path | None = None) -> bool:
    cache = (cache_dir or hf_cache_dir()).expanduser().absolute()
    try:
        path.expanduser().absolute().relative_to(cache)
    except ValueError:
        return False
    return True


def delete_cached(path: Path) -> list[Path]:
    """Remove one snapshot entry, and its blob if no other snapshot links to it."""
    deleted = []
    blob = path.resolve()
    if path.is_symlink() or path.exists():
        path.unlink()
        deleted.append(path)
    storage = blob.parent.parent
    still_used = any(
        p.resolve() == blob for p in (storage / "snapshots").rglob("*") if p.is_symlink()
    )
    if blob.exists() and blob.parent.name == "blobs" and not still_used:
        blob.unlink()
        deleted.append(blob)
    return deleted
