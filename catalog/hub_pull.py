"""Pulling any GGUF file on the Hub (`hf:ORG/REPO/FILE.gguf`, as `hostbench search` prints
it), the way a catalog file is pulled: into the HF cache, sha256 checked against the LFS
hash the repo publishes, registered as a local model."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from catalog.errors import SourceUnavailableError
from catalog.files import Progress
from catalog.hub_files import HubRef, quant_from_name, split_part
from catalog.local import LocalModel, LocalModels
from catalog.sources.hf import Fetched, HfFile, Retry, fetch


def find_hub_model(registry: LocalModels, ref: HubRef) -> LocalModel | None:
    """The model pulled from `ref` earlier, if its file is still here."""
    for model in registry.all():
        lineage = model.lineage or {}
        if (lineage.get("repo"), lineage.get("file")) == (ref.repo, ref.file) and model.present:
            return model
    return None


def pull_hub_file(
    ref: HubRef,
    registry: LocalModels,
    *,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    hf_cache: Path | None = None,
    retry: Retry | None = None,
    on_retry: Callable[[str, float], object] | None = None,
) -> LocalModel:
    found = find_hub_model(registry, ref)
    if found is not None:
        return found
    if split_part(ref.file) is not None:
        raise SourceUnavailableError(
            f"{ref.file} is one part of a split model: hostbench pulls single-file GGUFs only"
        )
    target = HfFile(ref.repo, ref.file, cache_dir=hf_cache)
    fetched = fetch(target, progress=progress, cancel=cancel, retry=retry, on_retry=on_retry)
    return registry.register(_hub_model(ref, target, fetched, registry))


def _hub_model(ref: HubRef, target: HfFile, got: Fetched, registry: LocalModels) -> LocalModel:
    from catalog.gguf_info import read_gguf_info

    model_id = ref.local_id
    if registry.get(model_id) is not None:  # another repo's file of the same name
        model_id = f"{model_id}-{got.sha256[:8]}"
    return LocalModel(
        id=model_id,
        path=got.path,
        sha256=got.sha256,
        size_bytes=got.size,
        origin=f"hf:{ref.repo}",
        quant=quant_from_name(ref.file) or read_gguf_info(got.path).quant,
        lineage={
            "source": "huggingface",
            "repo": ref.repo,
            "file": ref.file,
            "revision": target.revision,
            "commit": got.commit,
            "hf_cache": str(target.cache),
            "downloaded_bytes": got.downloaded_bytes,
        },
    )
