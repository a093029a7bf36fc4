"""Which devices a llama.cpp build can use, as the build itself says: `llama-server
--list-devices`, asked once per binary and kept in the build cache. A Mac is Apple silicon
whichever build runs on it; a CPU-only build offloads nothing (README "What each
accelerator gets")."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

from engines.base import OffloadCheck

NOT_GPUS = frozenset(("BLAS", "ZenDNN", "zDNN"))
"""Devices `--list-devices` names that are no GPU: ggml's accelerators used alongside the
CPU backend (device type ACCEL in ggml-blas, ggml-zendnn, ggml-zdnn). A Metal build on a Mac
lists `BLAS: Accelerate` next to `MTL0`; the CPU itself is never listed."""
LIST_DEVICES_TIMEOUT_S = 30
"""A Metal build compiles its shader library before it lists (5 s seen on an M4 Max)."""


class DeviceProbeError(Exception):
    """`llama-server --list-devices` could not say which devices the build has."""


def server_offload_check(binary: Path, cache_root: Path) -> OffloadCheck:
    """Whether `binary` lists a GPU; a build that cannot be asked keeps the old behaviour
    (the GPUs found are planned for) and says so."""
    try:
        gpus = gpu_devices(listed_devices(binary, cache_root))
    except DeviceProbeError as error:
        return OffloadCheck(note=unasked(binary, str(error)))
    return OffloadCheck() if gpus else OffloadCheck(refusal=no_backend(binary))


def gpu_devices(listing: str) -> list[str]:
    """The GPUs in `--list-devices` output (llama.cpp common/arg.cpp,
    `common_print_available_devices`): 'Available devices:', then one indented line per
    device that is not the CPU, 'MTL0: Apple M1 Max (26000 MiB, 25999 MiB free)', or
    '  (none)'. Returned as 'MTL0: Apple M1 Max'."""
    lines = listing.splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() == "Available devices:"), None)
    if start is None:
        raise DeviceProbeError("its output has no 'Available devices:' list")
    gpus = []
    for line in lines[start + 1 :]:
        if not line.startswith(" "):
            break
        name, colon, rest = line.strip().partition(": ")
        if colon and name not in NOT_GPUS:
            gpus.append(f"{name}: {rest.split(' (', 1)[0]}")
    return gpus


def listed_devices(binary: Path, cache_root: Path) -> str:
    """What `binary --list-devices` prints, asked once per build: kept under `cache_root`
    by the binary's path, size and modification time, so a rebuilt or replaced binary is
    asked again and a planned launch does not wait for Metal's shader compile each time."""
    try:
        stat = binary.stat()
    except OSError as error:
        raise DeviceProbeError(str(error)) from error
    seen = f"{binary.resolve()}\n{stat.st_size}\n{stat.st_mtime_ns}"
    kept = cache_root / "device-probe" / f"{hashlib.sha256(seen.encode()).hexdigest()[:16]}.txt"
    if kept.is_file():
        return kept.read_text("utf-8")
    listing = _ask_devices(binary)
    kept.parent.mkdir(parents=True, exist_ok=True)
    scratch = kept.with_suffix(f".{os.getpid()}.tmp")
    scratch.write_text(listing, "utf-8")
    scratch.replace(kept)
    return listing


def _ask_devices(binary: Path) -> str:
    """Only a listing that parses is returned, so that only such a listing is kept."""
    try:
        done = subprocess.run(
            [str(binary), "--list-devices"],
            capture_output=True,
            text=True,
            timeout=LIST_DEVICES_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise DeviceProbeError(str(error)) from error
    if done.returncode != 0:
        last = (done.stderr or done.stdout).strip().splitlines()[-1:]
        raise DeviceProbeError(
            f"exit status {done.returncode}{': ' if last else ''}{''.join(last)}"
        )
    gpu_devices(done.stdout)
    return done.stdout


def no_backend(where: object) -> str:
    return f"this build has no GPU backend: {where}"


def unasked(where: object, why: str) -> str:
    return (
        f"could not ask {where} which devices it has ({why}); planned for the GPUs found, "
        "as if it had a GPU backend"
    )
