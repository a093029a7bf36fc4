"""GGUF files from Hugging Face, into the standard HF cache so other tools share them.

huggingface_hub 2.x deletes its per-process partial file when a download fails, so an
interrupted pull would start over. hostbench therefore streams the file through
huggingface_hub's public HTTP helpers (`http_stream_backoff`, `build_hf_headers`,
`hf_raise_for_status`: its session, headers, proxy and errors) into a stable
`blobs/<sha256>.incomplete` (the name older huggingface_hub versions used for the same
purpose), resumes it with a Range request after any interruption, verifies its sha256
against the LFS hash the repo publishes, and only then moves it to `blobs/<sha256>` and
lets `hf_hub_download` create the snapshot link. A file
that fails verification never reaches the cache. The transfer holds huggingface_hub's lock
for that blob, so two pulls of one file (two terminals, CLI and workbench, or another tool
using huggingface_hub) never write the same partial file: the second waits, then finds the
blob and only verifies it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from threading import Event
from typing import Any

from catalog.errors import CancelledError, IntegrityError, SourceUnavailableError
from catalog.files import Progress, check_free_disk, check_sha256, exclusive, sha256_of
from catalog.sources.hf_errors import NetworkError, hub_errors

SHA256 = re.compile(r"^[0-9a-f]{64}$")


def hf_cache_dir(env: Mapping[str, str] | None = None) -> Path:
    """The hub cache as huggingface_hub resolves it, read now (not at import)."""
    env = os.environ if env is None else env
    explicit = env.get("HF_HUB_CACHE") or env.get("HUGGINGFACE_HUB_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    home = env.get("HF_HOME")
    if home:
        return Path(home).expanduser() / "hub"
    cache = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache).expanduser() / "huggingface" / "hub"


def hf_endpoint(env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    return (env.get("HF_ENDPOINT") or "https://huggingface.co").rstrip("/")


@dataclass(frozen=True)
class HfFile:
    """A file in a repo at a revision, and where its cache lives."""

    repo: str
    filename: str
    revision: str = "main"
    cache_dir: Path | None = None
    endpoint: str | None = None

    @property
    def cache(self) -> Path:
        return self.cache_dir or hf_cache_dir()

    @property
    def storage(self) -> Path:
        return self.cache / ("models--" + self.repo.replace("/", "--"))

    @property
    def base_url(self) -> str:
        return self.endpoint or hf_endpoint()


@dataclass(frozen=True)
class RemoteFile:
    """What the repo says about the file: the commit, its size and published sha256."""

    url: str
    commit: str
    etag: str
    size: int
    sha256: str | None


@dataclass(frozen=True)
class Fetched:
    path: Path
    sha256: str
    size: int
    commit: str | None
    downloaded_bytes: int
    """0 when the file was already in the cache."""


def cached_path(target: HfFile) -> Path | None:
    """The file if the cache already holds it at the revision (no network needed)."""
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(
        target.repo, target.filename, cache_dir=target.cache, revision=target.revision
    )
    return Path(found) if isinstance(found, str) else None


def remote_file(target: HfFile) -> RemoteFile:
    """HEAD the file, then ask the repo for its LFS sha256 at that exact commit."""
    from huggingface_hub import HfApi, get_hf_file_metadata, hf_hub_url

    url = hf_hub_url(
        target.repo, target.filename, revision=target.revision, endpoint=target.base_url
    )
    with hub_errors(target.repo, target.filename):
        meta = get_hf_file_metadata(url, endpoint=target.base_url)
        if meta.commit_hash is None or meta.etag is None or meta.size is None:
            raise SourceUnavailableError(f"{url} did not say its commit, etag and size")
        infos = HfApi(endpoint=target.base_url).get_paths_info(
            target.repo, [target.filename], revision=meta.commit_hash
        )
    lfs = next((getattr(i, "lfs", None) for i in infos if i.path == target.filename), None)
    sha = lfs.sha256 if lfs is not None else (meta.etag if SHA256.match(meta.etag) else None)
    return RemoteFile(meta.location, meta.commit_hash, meta.etag, meta.size, sha)


class _Counter:
    """Bytes in `partial` so far, reported after each chunk; cancel is checked before it."""

    def __init__(self, done: int, total: int, progress: Progress | None, cancel: Event | None):
        self.done, self.total, self.progress, self.cancel = done, total, progress, cancel

    def add(self, count: int) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise CancelledError("cancelled by the user; the partial download is kept")
        self.done += count
        if self.progress is not None:
            self.progress(self.done, max(self.total, self.done))


def _transfer_headers(remote: RemoteFile, target: HfFile, have: int) -> dict[str, str]:
    from huggingface_hub.utils import build_hf_headers

    headers = build_hf_headers()
    if not remote.url.startswith(target.base_url):
        headers.pop("authorization", None)  # a CDN URL is signed; never send the token there
    if have:
        headers["Range"] = f"bytes={have}-"
    return headers


def transfer(
    remote: RemoteFile,
    target: HfFile,
    partial: Path,
    *,
    progress: Progress | None = None,
    cancel: Event | None = None,
) -> int:
    """Append the missing bytes to `partial` (a Range request when some are there), through
    huggingface_hub's public HTTP session (its headers, proxy and SSL settings)."""
    from huggingface_hub import constants
    from huggingface_hub.utils import hf_raise_for_status, http_stream_backoff

    have = partial.stat().st_size if partial.exists() else 0
    if have > remote.size:
        partial.unlink()
        have = 0
    if have == remote.size:
        return 0  # complete, but killed before it was checked: the check comes next
    with (
        partial.open("ab") as handle,
        hub_errors(target.repo, target.filename),
        http_stream_backoff(
            "GET",
            remote.url,
            headers=_transfer_headers(remote, target, have),
            timeout=constants.HF_HUB_DOWNLOAD_TIMEOUT,
            retry_on_exceptions=(),  # with_retries resumes from what is on disk
            retry_on_status_codes=(408, 429),
        ) as response,
    ):
        hf_raise_for_status(response)
        if have and response.status_code != 206:  # the server ignored the Range: start over
            handle.truncate(0)
            have = 0
        counter = _Counter(have, remote.size, progress, cancel)
        for chunk in response.iter_bytes(chunk_size=constants.DOWNLOAD_CHUNK_SIZE):
            counter.add(len(chunk))
            handle.write(chunk)
    if counter.done < remote.size:
        raise NetworkError(f"the transfer of {target.filename} ended early; resuming")
    return remote.size - have


def verify(path: Path, expected: str, progress: Progress | None = None) -> str:
    return check_sha256(path, expected, progress)


def expected_sha256(remote: RemoteFile, pinned: str | None, target: HfFile) -> str:
    if remote.sha256 is None:
        raise SourceUnavailableError(
            f"{target.repo} publishes no sha256 for {target.filename}: it cannot be verified"
        )
    if pinned is not None and pinned != remote.sha256:
        raise IntegrityError(
            f"the catalog pins sha256 {pinned[:12]}… for {target.filename} but {target.repo} "
            f"now publishes {remote.sha256[:12]}…; not pulled"
        )
    return remote.sha256


def link_into_cache(target: HfFile) -> Path:
    """The blob is in place: hf_hub_download only writes the ref and the snapshot link."""
    from huggingface_hub import hf_hub_download

    with hub_errors(target.repo, target.filename):
        path = hf_hub_download(
            target.repo,
            target.filename,
            revision=target.revision,
            cache_dir=target.cache,
            endpoint=target.base_url,
        )
    return Path(str(path))


@dataclass(frozen=True)
class Retry:
    """Backoff between attempts after a network failure: base, doubled, capped."""

    attempts: int = 5
    base_s: float = 1.0
    max_s: float = 30.0

    def delays(self) -> list[float]:
        return [min(self.max_s, self.base_s * 2**n) for n in range(self.attempts - 1)]


def with_retries(
    action: Callable[[], Any],
    retry: Retry,
    cancel: Event | None,
    on_retry: Callable[[str, float], object] | None = None,
) -> Any:
    """Run `action`, waiting and retrying on network errors; cancellable while waiting."""
    waiter = cancel or Event()
    for delay in [*retry.delays(), None]:
        try:
            return action()
        except NetworkError as error:
            if delay is None:
                message = f"{error} (gave up after {retry.attempts} tries)"
                raise SourceUnavailableError(message) from error
            if on_retry is not None:
                on_retry(str(error), delay)
            if waiter.wait(delay):
                raise CancelledError("cancelled by the user") from error
    raise AssertionError("unreachable")


def fetch(
    target: HfFile,
    pinned_sha256: str | None = None,
    *,
    progress: Progress | None = None,
    cancel: Event | None = None,
    retry: Retry | None = None,
    on_retry: Callable[[str, float], object] | None = None,
) -> Fetched:
    """The verified file in the HF cache, downloading (and resuming) only what is missing."""
    found = cached_path(target)
    if found is not None:
        return _verified_cached(found, pinned_sha256, progress)
    retry = retry or Retry()
    remote = with_retries(lambda: remote_file(target), retry, cancel, on_retry)
    expected = expected_sha256(remote, pinned_sha256, target)
    blob = target.storage / "blobs" / remote.etag
    downloaded = 0
    if not blob.exists():
        downloaded = _download_blob(
            remote,
            target,
            blob,
            expected=expected,
            progress=progress,
            cancel=cancel,
            retry=retry,
            on_retry=on_retry,
        )
    path = with_retries(lambda: link_into_cache(target), retry, cancel, on_retry)
    if downloaded == 0:
        verify(path, expected, progress)
    return Fetched(path, expected, remote.size, remote.commit, downloaded)


def _verified_cached(path: Path, pinned: str | None, progress: Progress | None) -> Fetched:
    """A cached file is checked against the pinned hash, else its blob name (the sha256)."""
    blob_name = path.resolve().name
    expected = pinned or (blob_name if SHA256.match(blob_name) else None)
    sha = sha256_of(path, progress)
    if expected is not None and sha != expected:
        raise IntegrityError(
            f"the copy of {path.name} in the Hugging Face cache ({path}) does not match its "
            "sha256: remove it (hostbench rm --delete-from-hf-cache) and pull again"
        )
    commit = path.parent.name if len(path.parent.name) == 40 else None
    return Fetched(path, sha, path.stat().st_size, commit, 0)


def _download_blob(
    remote: RemoteFile,
    target: HfFile,
    blob: Path,
    *,
    expected: str,
    progress: Progress | None,
    cancel: Event | None,
    retry: Retry,
    on_retry: Callable[[str, float], object] | None,
) -> int:
    """Download into `blob` under huggingface_hub's own lock for it, so another hostbench
    or huggingface_hub process waits and then finds the blob instead of downloading it too.
    The lock makes the fixed `<etag>.incomplete` name safe to resume from: only its holder
    writes it."""
    blob.parent.mkdir(parents=True, exist_ok=True)
    partial = blob.with_name(blob.name + ".incomplete")
    lock = target.cache / ".locks" / target.storage.name / f"{remote.etag}.lock"
    with exclusive(lock, cancel):
        if blob.exists():
            return 0
        have = partial.stat().st_size if partial.exists() else 0
        check_free_disk(blob.parent, remote.size - min(have, remote.size))
        with_retries(
            lambda: transfer(remote, target, partial, progress=progress, cancel=cancel),
            retry,
            cancel,
            on_retry,
        )
        try:
            verify(partial, expected, progress)
        except IntegrityError:
            partial.unlink(missing_ok=True)
            raise
        os.replace(partial, blob)
    return remote.size - have
