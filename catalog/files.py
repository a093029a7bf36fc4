"""Writing model files safely: disk check first, a private temporary file, the sha256 of
the bytes on disk, rename at the end.

A file only appears under its final name once the sha256 of what was written matched, so a
crash, a full disk, a corrupt source or another process writing nearby never leaves a model
that looks usable. Work on one destination is serialised across processes by `exclusive`.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from catalog.errors import CancelledError, InsufficientDiskError, IntegrityError

CHUNK_BYTES = 1 << 20
DISK_MARGIN_BYTES = 256 << 20
"""Left free after a download, so the file never fills the disk to the last byte."""

LOCK_POLL_S = 0.2
"""How often a wait for another process's lock checks whether it was cancelled."""

Progress = Callable[[int, int], object]
"""Called with (bytes done, bytes total) as a copy or hash advances; what it returns is
ignored."""


@contextmanager
def exclusive(lock_path: Path, cancel: threading.Event | None = None) -> Iterator[None]:
    """Hold the cross-process lock `lock_path` (flock, via filelock); a wait for another
    holder ends early when `cancel` is set."""
    from filelock import FileLock, Timeout

    lock_path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(lock_path)
    while True:
        try:
            lock.acquire(timeout=LOCK_POLL_S)
            break
        except Timeout:
            if cancel is not None and cancel.is_set():
                raise CancelledError(
                    "cancelled by the user while waiting for another pull"
                ) from None
    try:
        yield
    finally:
        lock.release()


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


def check_sha256(
    path: Path, expected: str | None, progress: Progress | None = None, name: str = ""
) -> str:
    """The sha256 of the bytes on disk, which must be `expected` when one is given."""
    got = sha256_of(path, progress)
    if expected is not None and got != expected:
        raise IntegrityError(
            f"{name or path.name}: sha256 {got[:12]}… does not match the published "
            f"{expected[:12]}…; the file was discarded"
        )
    return got


def private_partial(destination: Path) -> Path:
    """A temporary file next to `destination` that no other process or thread shares."""
    handle, name = tempfile.mkstemp(
        dir=destination.parent, prefix=f".{destination.name}.", suffix=".partial"
    )
    os.close(handle)
    os.chmod(name, 0o644)  # mkstemp's 0600 would hide the model from other local tools
    return Path(name)


def install_verified(
    source: IO[bytes],
    destination: Path,
    total: int,
    expected_sha256: str | None,
    *,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> str:
    """Write `source` to `destination` only if the written file's hash matches; return it.

    The hash is taken from the file on disk after it was written and synced, not from the
    stream: what gets the final name is exactly what was checked."""
    check_free_disk(destination.parent, total)
    partial = private_partial(destination)
    try:
        with partial.open("wb") as target:
            copy_hashing(source, target, total, progress, cancel)
            target.flush()
            os.fsync(target.fileno())
        sha256 = check_sha256(partial, expected_sha256, name=destination.name)
        os.replace(partial, destination)
    finally:
        partial.unlink(missing_ok=True)
    return sha256
