"""Build llama.cpp for this machine: the llama-cpp-python wheel and a `llama-server` binary.

This file uses the standard library only, because the Makefile runs it as a script
before any dependency is installed; `hostbench engines build` imports it as a module.

One compile serves both (the default): llama.cpp is built once from the sources that
llama-cpp-python's source archive vendors, as shared libraries plus `llama-server` and
`llama-bench`; llama-cpp-python is then built without compiling llama.cpp
(`CMAKE_ARGS=-DLLAMA_BUILD=OFF`, seconds) and the shared libraries are put into its wheel,
where the bindings load them from. (Pointing the bindings at them with LLAMA_CPP_LIB_PATH
alone is not enough: llama_cpp/_ggml.py loads libggml from the package directory whatever
that variable says.) HOSTBENCH_LLAMA_ONE_COMPILE=0 selects the former route: pip compiles
the bindings, then a second compile builds a static `llama-server`.

Builds are cached per (version, backend, cmake flags, route) under the hostbench cache dir,
so a later set-up on the same machine reuses them. pip's own wheel cache is not used for
llama-cpp-python: it keys wheels by the source archive only and would hand back a CPU
build after the user asked for CUDA.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

LLAMA_CPP_PYTHON_VERSION = "0.3.36"
"""The llama-cpp-python release this project is tested with (see shared NOTES)."""

BACKEND_CMAKE_FLAGS: dict[str, tuple[str, ...]] = {
    "cpu": (),
    "cuda": ("-DGGML_CUDA=on",),
    "metal": ("-DGGML_METAL=on",),
    "rocm": ("-DGGML_HIP=on",),
    "vulkan": ("-DGGML_VULKAN=on",),
}

SERVER_CMAKE_FLAGS = (
    "-DLLAMA_BUILD_SERVER=ON",
    "-DLLAMA_BUILD_TOOLS=ON",
    "-DBUILD_SHARED_LIBS=OFF",
    "-DLLAMA_CURL=OFF",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DCMAKE_BUILD_TYPE=Release",
)

SHARED_CMAKE_FLAGS = (
    "-DLLAMA_BUILD_SERVER=ON",
    "-DLLAMA_BUILD_TOOLS=ON",
    "-DBUILD_SHARED_LIBS=ON",
    "-DLLAMA_CURL=OFF",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DCMAKE_BUILD_TYPE=Release",
    "-DCMAKE_BUILD_WITH_INSTALL_RPATH=ON",
    "-DCMAKE_INSTALL_RPATH=$ORIGIN",
)
"""One build of llama.cpp for both the bindings and the server: every library and program
lands in one directory and finds its neighbours there ($ORIGIN)."""

SHARED_TARGETS = ("llama-server", "llama-bench", "llama", "ggml", "mtmd")
BINDING_LIBS = ("libllama.so", "libggml", "libmtmd.so")
"""Name prefixes of the libraries llama-cpp-python loads (and what they need)."""


class BuildError(RuntimeError):
    """A build step failed; the message names the step and the log to read."""


@dataclass(frozen=True)
class BuildPlan:
    """What to build and why: the backend, the cmake flags and where the result goes."""

    version: str
    backend: str
    reason: str
    cmake_flags: tuple[str, ...]
    cache_root: Path
    one_compile: bool = True

    @property
    def key(self) -> str:
        digest = hashlib.sha256(" ".join(self.cmake_flags).encode()).hexdigest()[:8]
        return f"{self.version}-{self.backend}-{digest}"

    @property
    def wheel_dir(self) -> Path:
        route = "-shared" if self.one_compile else ""
        return self.cache_root / "llama-cpp-python" / f"{self.key}{route}"

    @property
    def server_dir(self) -> Path:
        return self.cache_root / "llama-server" / self.key

    @property
    def native_dir(self) -> Path:
        """The one-compile build: shared libraries, `llama-server` and `llama-bench`."""
        return self.cache_root / "llama-cpp" / self.key

    @property
    def server_binary(self) -> Path:
        return (self.native_dir if self.one_compile else self.server_dir) / "llama-server"


def default_cache_root(env: dict[str, str]) -> Path:
    """~/.cache/hostbench/build unless HOSTBENCH_CACHE_DIR says otherwise."""
    if env.get("HOSTBENCH_CACHE_DIR"):
        return Path(env["HOSTBENCH_CACHE_DIR"]) / "build"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "hostbench" / "build"
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hostbench" / "build"


def nvidia_gpu_visible() -> bool:
    """True when the NVIDIA driver reports at least one GPU (nvcc alone is not enough)."""
    gpus = Path("/proc/driver/nvidia/gpus")
    if gpus.is_dir() and any(gpus.iterdir()):
        return True
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return False
    done = subprocess.run([smi, "-L"], capture_output=True, text=True, check=False)
    return done.returncode == 0 and "GPU " in done.stdout


def detect_backend(env: dict[str, str]) -> tuple[str, str]:
    """Choose the llama.cpp backend for this machine and say why."""
    override = env.get("HOSTBENCH_LLAMA_BACKEND", "").strip().lower()
    if override:
        if override not in BACKEND_CMAKE_FLAGS:
            known = ", ".join(BACKEND_CMAKE_FLAGS)
            raise BuildError(f"HOSTBENCH_LLAMA_BACKEND={override!r} is not one of: {known}")
        return override, "HOSTBENCH_LLAMA_BACKEND"
    if sys.platform == "darwin" and platform.machine() == "arm64":
        return "metal", "Apple silicon"
    if shutil.which("nvcc") and nvidia_gpu_visible():
        return "cuda", "nvcc found and the NVIDIA driver reports a GPU"
    if shutil.which("nvcc"):
        return "cpu", "nvcc found but no NVIDIA GPU is visible"
    if shutil.which("hipcc") and Path("/dev/kfd").exists():
        return "rocm", "hipcc found and /dev/kfd present"
    return "cpu", "no GPU toolkit with a visible GPU"


def make_plan(env: dict[str, str], version: str = LLAMA_CPP_PYTHON_VERSION) -> BuildPlan:
    """Resolve backend and flags; a user's CMAKE_ARGS replaces the backend's flags."""
    backend, reason = detect_backend(env)
    flags = BACKEND_CMAKE_FLAGS[backend]
    if env.get("CMAKE_ARGS", "").strip():
        flags = tuple(env["CMAKE_ARGS"].split())
        backend, reason = "custom", "CMAKE_ARGS set by the user"
    one_compile = env.get("HOSTBENCH_LLAMA_ONE_COMPILE", "1").strip() not in ("0", "false", "no")
    return BuildPlan(version, backend, reason, flags, default_cache_root(env), one_compile)


def run_logged(cmd: list[str], log: Path, env: dict[str, str] | None = None) -> None:
    """Run a build command with its output in a log file; on failure show its tail."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        done = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, check=False)
    if done.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-25:])
        raise BuildError(f"{cmd[0]} {cmd[1]} failed (exit {done.returncode}); log {log}:\n{tail}")


def cached_file(directory: Path, pattern: str) -> Path | None:
    found = sorted(directory.glob(pattern)) if directory.is_dir() else []
    return found[0] if found else None


def ensure_wheel(plan: BuildPlan, python: str = sys.executable) -> Path:
    """Return a llama-cpp-python wheel built for the plan, compiling on first use."""
    wheel = cached_file(plan.wheel_dir, "llama_cpp_python-*.whl")
    if wheel is not None:
        return wheel
    scratch = Path(tempfile.mkdtemp(dir=plan.cache_root, prefix="wheel-"))
    try:
        if plan.one_compile:
            native = ensure_native(plan, python)
            built = build_wheel(plan, python, ("-DLLAMA_BUILD=OFF",), scratch)
            return bundle_libraries(built, native, plan.wheel_dir)
        built = build_wheel(plan, python, plan.cmake_flags, scratch)
        plan.wheel_dir.mkdir(parents=True, exist_ok=True)
        return Path(shutil.move(str(built), plan.wheel_dir / built.name))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def cmake_program() -> str:
    """The cmake the set-up installs into this environment (PyPI's `cmake`: a fresh machine
    need not have one), else the one on PATH."""
    beside = Path(sys.executable).parent / "cmake"
    return str(beside) if beside.is_file() else "cmake"


def build_wheel(plan: BuildPlan, python: str, cmake_flags: tuple[str, ...], into: Path) -> Path:
    """`pip wheel` llama-cpp-python from its source archive with these CMAKE_ARGS."""
    env = dict(os.environ, CMAKE_ARGS=" ".join(cmake_flags))
    cmd = [python, "-m", "pip", "wheel", "--no-deps", "--no-cache-dir"]
    cmd += [str(fetch_sdist(plan, python)), "-w", str(into)]
    route = "bindings" if plan.one_compile else "wheel"
    run_logged(cmd, plan.cache_root / "logs" / f"{route}-{plan.key}.log", env)
    built = cached_file(into, "llama_cpp_python-*.whl")
    if built is None:
        raise BuildError("pip wheel finished without producing a llama-cpp-python wheel")
    return built


def ensure_native(plan: BuildPlan, python: str = sys.executable, jobs: int = 0) -> Path:
    """The one compile: llama.cpp's shared libraries, llama-server and llama-bench in
    `plan.native_dir`, built on first use from the vendored sources."""
    if (plan.native_dir / "llama-server").is_file():
        return plan.native_dir
    sdist = fetch_sdist(plan, python)
    log_dir = plan.cache_root / "logs"
    with tempfile.TemporaryDirectory(dir=plan.cache_root) as scratch:
        source = extract_vendor(sdist, Path(scratch))
        build = Path(scratch) / "build"
        configure = [cmake_program(), "-S", str(source), "-B", str(build)]
        configure += [*SHARED_CMAKE_FLAGS, *plan.cmake_flags]
        run_logged(configure, log_dir / f"native-configure-{plan.key}.log")
        compile_ = [cmake_program(), "--build", str(build), "--target", *SHARED_TARGETS]
        compile_ += ["-j", str(jobs or os.cpu_count() or 1)]
        run_logged(compile_, log_dir / f"native-build-{plan.key}.log")
        staging = plan.native_dir.with_name(plan.native_dir.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        for built in _native_outputs(build):
            shutil.copy2(built, staging / built.name, follow_symlinks=False)
        os.replace(staging, plan.native_dir)
    return plan.native_dir


def _native_outputs(build: Path) -> list[Path]:
    """The shared libraries (with their version links) and the two programs."""
    found = [p for p in build.rglob("*.so*") if p.is_file() or p.is_symlink()]
    found = [p for p in found if "CMakeFiles" not in p.parts]
    programs = [build / "bin" / name for name in ("llama-server", "llama-bench")]
    missing = [p.name for p in programs if not p.is_file()]
    if missing:
        raise BuildError(f"the build did not produce {', '.join(missing)}")
    return [*found, *programs]


def bundle_libraries(wheel: Path, native: Path, into: Path) -> Path:
    """A copy of `wheel` with llama.cpp's shared libraries in `llama_cpp/lib/`, where the
    bindings load them from, and its RECORD updated. Wheels hold no symbolic links, so each
    name a loader asks for (libllama.so, libggml.so.0, ...) is a copy of the library."""
    into.mkdir(parents=True, exist_ok=True)
    target = into / wheel.name
    partial = target.with_name(target.name + ".partial")
    with (
        zipfile.ZipFile(wheel) as source,
        zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as out,
    ):
        record_name = next(n for n in source.namelist() if n.endswith(".dist-info/RECORD"))
        record = [line for line in source.read(record_name).decode().splitlines() if line]
        for item in source.infolist():
            if item.filename != record_name:
                out.writestr(item, source.read(item))
        for library in sorted(native.iterdir()):
            if library.name.startswith(BINDING_LIBS):
                data = library.read_bytes()  # follows version links
                name = f"llama_cpp/lib/{library.name}"
                out.writestr(zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0)), data)
                record.append(f"{name},sha256={_record_hash(data)},{len(data)}")
        record = [line for line in record if not line.startswith(record_name)]
        out.writestr(record_name, "\n".join([*record, f"{record_name},,"]) + "\n")
    os.replace(partial, target)
    return target


def _record_hash(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def fetch_sdist(plan: BuildPlan, python: str) -> Path:
    """Download the llama-cpp-python source archive, which vendors llama.cpp."""
    sdists = plan.cache_root / "sdist"
    found = cached_file(sdists, f"llama_cpp_python-{plan.version}.tar.gz")
    if found is not None:
        return found
    cmd = [
        python,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--no-binary",
        ":all:",
        f"llama-cpp-python=={plan.version}",
        "-d",
        str(sdists),
    ]
    run_logged(cmd, plan.cache_root / "logs" / f"sdist-{plan.version}.log")
    found = cached_file(sdists, f"llama_cpp_python-{plan.version}.tar.gz")
    if found is None:
        raise BuildError(f"pip download did not leave llama_cpp_python-{plan.version}.tar.gz")
    return found


def extract_vendor(sdist: Path, into: Path) -> Path:
    """Unpack only vendor/llama.cpp from the source archive."""
    with tarfile.open(sdist) as archive:
        members = [m for m in archive.getmembers() if "/vendor/llama.cpp/" in m.name]
        archive.extractall(into, members=members, filter="data")
    roots = list(into.glob("*/vendor/llama.cpp"))
    if not roots:
        raise BuildError(f"{sdist.name} has no vendor/llama.cpp")
    return roots[0]


def ensure_llama_server(plan: BuildPlan, python: str = sys.executable, jobs: int = 0) -> Path:
    """Return a llama-server binary built for the plan, compiling it on first use."""
    if plan.one_compile:
        return ensure_native(plan, python, jobs) / "llama-server"
    binary = plan.server_dir / "llama-server"
    if binary.is_file():
        return binary
    sdist = fetch_sdist(plan, python)
    jobs = jobs or os.cpu_count() or 1
    log_dir = plan.cache_root / "logs"
    with tempfile.TemporaryDirectory(dir=plan.cache_root) as scratch:
        source = extract_vendor(sdist, Path(scratch))
        build = Path(scratch) / "build"
        configure = [
            cmake_program(),
            "-S",
            str(source),
            "-B",
            str(build),
            *SERVER_CMAKE_FLAGS,
            *plan.cmake_flags,
        ]
        run_logged(configure, log_dir / f"server-configure-{plan.key}.log")
        compile_ = [cmake_program(), "--build", str(build), "--target", "llama-server"]
        compile_ += ["-j", str(jobs)]
        run_logged(compile_, log_dir / f"server-build-{plan.key}.log")
        plan.server_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy2(build / "bin" / "llama-server", binary)
    return binary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["backend", "wheel", "server"])
    parser.add_argument("--python", default=sys.executable)
    args = parser.parse_args(argv)
    try:
        plan = make_plan(dict(os.environ))
        plan.cache_root.mkdir(parents=True, exist_ok=True)
        if args.what == "backend":
            print(f"{plan.backend}\t{plan.reason}\t{' '.join(plan.cmake_flags) or '-'}")
        elif args.what == "wheel":
            print(ensure_wheel(plan, args.python))
        else:
            print(ensure_llama_server(plan, args.python))
    except BuildError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
