"""Model files appear under their final name only after their hash matched."""

from __future__ import annotations

import hashlib
import io
import threading
from pathlib import Path

import pytest

from catalog import CancelledError, InsufficientDiskError, IntegrityError
from catalog.files import check_free_disk, install_verified

DATA = b"gguf-bytes" * 300_000


def test_verified_install(tmp_path: Path) -> None:
    target = tmp_path / "m.gguf"
    seen: list[tuple[int, int]] = []
    digest = hashlib.sha256(DATA).hexdigest()
    got = install_verified(
        io.BytesIO(DATA), target, len(DATA), digest, progress=lambda d, t: seen.append((d, t))
    )
    assert got == digest and target.read_bytes() == DATA
    assert seen[-1] == (len(DATA), len(DATA))


def test_hash_mismatch_keeps_nothing(tmp_path: Path) -> None:
    target = tmp_path / "m.gguf"
    with pytest.raises(IntegrityError, match="does not match"):
        install_verified(io.BytesIO(DATA), target, len(DATA), "0" * 64)
    assert list(tmp_path.iterdir()) == []


def test_cancel_removes_the_partial_file(tmp_path: Path) -> None:
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(CancelledError):
        install_verified(io.BytesIO(DATA), tmp_path / "m.gguf", len(DATA), None, cancel=cancel)
    assert list(tmp_path.iterdir()) == []


def test_full_disk_is_detected_before_writing(tmp_path: Path) -> None:
    with pytest.raises(InsufficientDiskError, match="GiB free"):
        check_free_disk(tmp_path, 1 << 60)
