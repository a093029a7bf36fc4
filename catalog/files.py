"""Writing model files safely: disk check first, hash while copying, rename at the end.

A file only appears under its final name once its sha256 matched, so a crash, a full disk
or a corrupt source never leaves a model that looks usable.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO

from catalog.errors import CancelledError, InsufficientDiskError, IntegrityError

CHUNK_BYTES = 1 << 20
DISK_MARGIN_BYTES = 256 << 20
"""Left free after a download, so the file never fills the disk to the last byte."""

Progress = Callable[[int, int], None]
"""Called with (bytes done, bytes total) as a copy or hash advances."""


def check_free_disk(directory: Path, needed_bytes: int) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(directory).free
    if free < needed_bytes + DISK_MARGIN_BYTES:
        raise InsufficientDiskError(
            f"{directory} has {free / 2**30:.2f} GiB free; the file needs "
            f"{needed_bytes / 2**30:.2f} GiB plus {DISK_MARGIN_BYTES >> 20} MiB to spare"
        )


def copy_hashing(
    source: IO[bytes],
    target: IO[bytes] | None,
    total: int,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> str:
    """Copy `source` to `target` (None: just read) in chunks; return the sha256 of it."""
    digest = hashlib.sha256()
    done = 0
    while chunk := source.read(CHUNK_BYTES):
        if cancel is not None and cancel.is_set():
            raise CancelledError("cancelled by the user")
        digest.update(chunk)
        if target is not None:
            target.write(chunk)
        done += len(chunk)
        if progress is not None:
            progress(done, total)
    return digest.hexdigest()


def sha256_of(path: Path, progress: Progress | None = None) -> str:
    total = path.stat().st_size
    with path.open("rb") as handle:
        return copy_hashing(handle, None, total, progress)


def install_verified(
    source: IO[bytes],
    destination: Path,
    total: int,
    expected_sha256: str | None,
    *,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> str:
    """Write `source` to `destination` only if its hash matches; return the hash."""
    check_free_disk(destination.parent, total)
    partial = destination.with_name(destination.name + ".partial")
    try:
        with partial.open("wb") as target:
            sha256 = copy_hashing(source, target, total, progress, cancel)
            target.flush()
            os.fsync(target.fileno())
        if expected_sha256 is not None and sha256 != expected_sha256:
            raise IntegrityError(
                f"{destination.name}: sha256 {sha256[:12]}… does not match the published "
                f"{expected_sha256[:12]}…; the file was discarded"
            )
        os.replace(partial, destination)
    finally:
        partial.unlink(missing_ok=True)
    return sha256
