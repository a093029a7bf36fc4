"""Writing a pulled file: the sha256 is the one of the bytes on disk, temporary files are
private to one writer, and one lock per destination makes a second pull wait (and lets a
cancel end that wait)."""

from __future__ import annotations

import hashlib
import io
import threading
from pathlib import Path

import pytest

from catalog import CancelledError, IntegrityError
from catalog.files import exclusive, install_verified

DATA = bytes(range(256)) * 16_384  # 4 MiB: several copy chunks
DIGEST = hashlib.sha256(DATA).hexdigest()


def _flip(path: Path, offset: int) -> None:
    with path.open("r+b") as handle:
        handle.seek(offset)
        byte = handle.read(1)
        handle.seek(offset)
        handle.write(bytes([byte[0] ^ 0xFF]))


def test_bytes_changed_on_disk_during_the_write_are_caught(tmp_path: Path) -> None:
    """Another writer touching the file while it is written (the race two pulls had):
    the stream was right, the file is not, and the file must not get its final name."""
    target = tmp_path / "m.gguf"

    def meddle(done: int, total: int) -> None:
        if done == 2 << 20:
            (partial,) = tmp_path.glob(".m.gguf.*.partial")
            _flip(partial, 1000)

    with pytest.raises(IntegrityError, match=r"m\.gguf: sha256 .* does not match"):
        install_verified(io.BytesIO(DATA), target, len(DATA), DIGEST, progress=meddle)
    assert list(tmp_path.iterdir()) == []


def test_two_writers_of_one_destination_never_share_a_partial(tmp_path: Path) -> None:
    target = tmp_path / "m.gguf"
    seen: list[set[str]] = []

    def second_writer(done: int, total: int) -> None:
        if done == 1 << 20 and not seen:
            seen.append({p.name for p in tmp_path.glob("*.partial")})
            install_verified(io.BytesIO(DATA), target, len(DATA), DIGEST)
            seen.append({p.name for p in tmp_path.glob("*.partial")})

    assert install_verified(io.BytesIO(DATA), target, len(DATA), DIGEST, progress=second_writer)
    assert len(seen[0]) == 1 and seen[1] == seen[0]  # the first's partial survived the second
    assert target.read_bytes() == DATA and [p.name for p in tmp_path.iterdir()] == ["m.gguf"]


def test_the_lock_makes_a_second_holder_wait(tmp_path: Path) -> None:
    lock = tmp_path / "locks" / "m.gguf.lock"
    order: list[str] = []
    entered = threading.Event()

    def second() -> None:
        entered.set()
        with exclusive(lock):
            order.append("second")

    with exclusive(lock):
        thread = threading.Thread(target=second)
        thread.start()
        entered.wait(5)
        thread.join(0.5)
        assert thread.is_alive(), "the second holder did not wait"
        order.append("first")
    thread.join(10)
    assert order == ["first", "second"]


def test_a_cancel_ends_the_wait_for_the_lock(tmp_path: Path) -> None:
    lock = tmp_path / "m.gguf.lock"
    cancel = threading.Event()
    failures: list[BaseException] = []

    def waiter() -> None:
        try:
            with exclusive(lock, cancel):
                pass
        except CancelledError as error:
            failures.append(error)

    with exclusive(lock):
        thread = threading.Thread(target=waiter)
        thread.start()
        cancel.set()
        thread.join(10)
    assert not thread.is_alive() and "waiting for another pull" in str(failures[0])
