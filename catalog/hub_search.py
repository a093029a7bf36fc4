"""Searching the whole Hugging Face Hub for GGUF models, with a fit verdict for each file.

The listing is the request `HfApi.list_models(search=Q, filter="gguf", sort="downloads",
limit=N, expand=[...])` sends in huggingface_hub 2.4 (`GET {endpoint}/api/models` with those
parameters), made through huggingface_hub's public session, headers and error check, and
parsed by its own `ModelInfo`. It is not `list_models` itself because that retries a refused
connection for about 23 seconds (`http_backoff`, five tries) before failing, and an offline
search should fall back to its cache at once.

Each GGUF file's verdict comes from its own header, read remotely with range requests
(catalog.sources.hf_header): the first MiB, then more only while the header continues.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from catalog.errors import CatalogError
from catalog.fit import FitOptions
from catalog.hub_files import HubRef, is_model_file, quant_from_name, split_part
from catalog.model_shape import shape_from_gguf
from catalog.placement import Devices, fit
from catalog.sources.hf import HfFile, hf_endpoint
from catalog.sources.hf_errors import hub_errors

DEFAULT_LIMIT = 5
HEADER_FIRST_BYTES = 1 << 20
"""What a search reads of each file first; a longer header asks for more."""
WORKERS = 8
EXPAND = ["siblings", "downloads", "likes", "lastModified", "gated"]


@dataclass(frozen=True)
class HubFileResult:
    """One GGUF file of a search result, and what it needs here."""

    file: str
    quant: str | None
    """From the file name, else from the header."""
    size_bytes: int | None
    verdict: str | None
    """A `catalog.placement.Verdict` value; None when the header could not be read."""
    reference: str | None
    """What `hostbench pull` and `launch` take; None for a part of a split model."""
    note: str | None = None


@dataclass(frozen=True)
class HubRepoResult:
    repo: str
    downloads: int | None
    likes: int | None
    gated: bool
    files: tuple[HubFileResult, ...]


@dataclass(frozen=True)
class HubSearch:
    """A search's answer. `cached_because` is set when it comes from the cache: why the
    Hub could not be asked."""

    query: str
    searched_at: datetime
    options: str
    repos: tuple[HubRepoResult, ...]
    cached_because: str | None = None


def list_gguf_repos(query: str, limit: int, endpoint: str | None = None) -> list[Any]:
    """The Hub's GGUF repositories matching `query`, most downloaded first (ModelInfo)."""
    from huggingface_hub import ModelInfo, constants
    from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status

    base = endpoint or hf_endpoint()
    params: dict[str, Any] = {"search": query, "filter": ["gguf"], "sort": "downloads"}
    with hub_errors(f"the search {query!r}", ""):
        response = get_session().get(
            f"{base}/api/models",
            params={**params, "limit": limit, "expand": EXPAND},
            headers=build_hf_headers(),
            timeout=constants.HF_HUB_ETAG_TIMEOUT,
        )
        hf_raise_for_status(response)
    return [ModelInfo(**{"siblings": None, **item}) for item in response.json()[:limit]]


def file_result(
    repo: str, filename: str, options: FitOptions, devices: Devices, endpoint: str | None
) -> HubFileResult:
    """The file's quant and verdict from its remote header; a failure becomes the note."""
    from catalog.sources.hf_header import read_remote_gguf_info

    named = quant_from_name(filename)
    part = split_part(filename)
    if part is not None:
        note = f"part {part[0]} of {part[1]}: split models are not estimated or pulled"
        return HubFileResult(filename, named, None, None, None, note)
    reference = str(HubRef(repo, filename))
    try:
        info, remote = read_remote_gguf_info(
            HfFile(repo, filename, endpoint=endpoint), HEADER_FIRST_BYTES
        )
        shape = shape_from_gguf(info, reference, remote.size)
    except CatalogError as error:
        return HubFileResult(filename, named, None, None, reference, str(error))
    verdict = fit(shape, options, devices).verdict.value
    return HubFileResult(filename, named or info.quant, remote.size, verdict, reference)


def _gguf_files(model: Any) -> list[str]:
    return sorted(s.rfilename for s in model.siblings or () if is_model_file(s.rfilename))


def search_hub(
    query: str,
    options: FitOptions,
    devices: Devices,
    *,
    limit: int = DEFAULT_LIMIT,
    endpoint: str | None = None,
) -> HubSearch:
    """Search, then read every listed file's header (in parallel threads)."""
    models = list_gguf_repos(query, limit, endpoint)
    jobs = [(m.id, name) for m in models for name in _gguf_files(m)]

    def read(job: tuple[str, str]) -> HubFileResult:
        return file_result(job[0], job[1], options, devices, endpoint)

    with ThreadPoolExecutor(WORKERS) as pool:
        done = list(pool.map(read, jobs))
    by_repo: dict[str, list[HubFileResult]] = {}
    for (repo, _), result in zip(jobs, done, strict=True):
        by_repo.setdefault(repo, []).append(result)
    repos = tuple(_repo_result(m, by_repo.get(m.id, [])) for m in models)
    return HubSearch(query, datetime.now(UTC), options_label(options), repos)


def _repo_result(model: Any, files: Iterable[HubFileResult]) -> HubRepoResult:
    return HubRepoResult(model.id, model.downloads, model.likes, bool(model.gated), tuple(files))


def options_label(options: FitOptions) -> str:
    return f"ctx {options.n_ctx} x {options.n_parallel}, KV {options.type_k}"
