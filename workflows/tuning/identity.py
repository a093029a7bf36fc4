"""What a tuned profile's numbers depend on, and choosing one for a launch.

The identity is the hostbench version, the engine adapter and its build (llama-server's
`--version`), the CPU model and the GPU driver(s). A tuned profile whose recorded identity
differs from the machine's now is stale: a launch ignores it with a one-line note, so a
changed machine re-tunes instead of trusting numbers measured on something else.
"""

from __future__ import annotations

import functools
import importlib.metadata
import subprocess
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from engines.base import EngineAdapter
from hardware import MachineSnapshot
from profiles.library import ProfileLibrary
from profiles.tuned import find_tuned, stale_fields, tuned_summary

Identity = Mapping[str, str]


def machine_identity(adapter: EngineAdapter, snapshot: MachineSnapshot) -> dict[str, str]:
    drivers = sorted({g.driver_version for g in snapshot.gpus if g.driver_version})
    return {
        "hostbench": _package_version("hostbench"),
        "engine_id": adapter.engine_id,
        "engine": engine_build(adapter),
        "cpu": snapshot.cpu.model_name or snapshot.cpu.architecture,
        "gpu_driver": ", ".join(drivers) or "none",
    }


def engine_build(adapter: EngineAdapter) -> str:
    """`llama-server version: 7100 (1a2b3c4)`, or the Python server's package version."""
    runtime = adapter.availability().runtime
    binary = getattr(adapter, "llama_server", None)
    if runtime == "llama-server" and isinstance(binary, Path):
        stat = binary.stat()
        return f"llama-server {_binary_version(str(binary), stat.st_mtime_ns, stat.st_size)}"
    if runtime == "llama_cpp.server":
        return f"llama-cpp-python {_package_version('llama_cpp_python')}"
    return runtime


@functools.lru_cache(maxsize=8)
def _binary_version(path: str, _mtime_ns: int, _size: int) -> str:
    """The `version:` line of `llama-server --version` (cached per build of the file)."""
    try:
        done = subprocess.run(
            [path, "--version"], check=False, capture_output=True, text=True, timeout=20
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"unknown ({type(error).__name__})"
    lines = (done.stdout + done.stderr).splitlines()
    found = [line.split(":", 1)[1].strip() for line in lines if line.startswith("version:")]
    return found[0] if found else "unknown"


def _package_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def pick_tuned(
    library: ProfileLibrary, names: Iterable[str], identity: Callable[[], Identity]
) -> tuple[str | None, str | None]:
    """(the tuned profile to launch with, a note for the user), for a launch that named no
    profile. `identity` is only read when a tuned profile exists for the model."""
    profile = find_tuned(library.profiles, names)
    if profile is None or profile.tuned is None:
        return None, None
    now = identity()
    if profile.tuned.identity.get("engine_id") != now.get("engine_id"):
        return None, None  # tuned for another engine: not a stale profile, just not this one
    stale = stale_fields(profile.tuned, now)
    if stale:
        return None, (
            f"tuned profile {profile.name} ignored: measured on a different setup "
            f"({'; '.join(stale)}); run `hostbench tune {profile.tuned.model}` again"
        )
    return profile.name, f"using tuned profile {profile.name} ({tuned_summary(profile.tuned)})"
