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
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
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
    if hip_compiler(env) is not None:
        return _rocm_or_cpu(amd_gpu_targets(env))
    return "cpu", "no GPU toolkit with a visible GPU"


def _rocm_or_cpu(targets: list[str]) -> tuple[str, str]:
    """Like CUDA: the toolkit alone is not enough, ROCm must also see a GPU."""
    if targets:
        return "rocm", f"hipcc found and ROCm reports a GPU ({', '.join(targets)})"
    return "cpu", "hipcc found but no AMD GPU is visible"


def compiler_env(backend: str, env: dict[str, str]) -> dict[str, str] | None:
    """What llama.cpp's HIP build needs besides -DGGML_HIP=ON (its docs/build.md, "HIP"):
    HIPCXX, ROCm's clang, and HIP_PATH, from `hipconfig` unless the user set them. None
    (inherit the environment) for other backends or without hipconfig."""
    hipconfig = rocm_tool(env, "hipconfig") if backend == "rocm" else None
    if hipconfig is None:
        return None
    wanted = {"HIPCXX": ("-l", "/clang"), "HIP_PATH": ("-R", "")}
    out = dict(env)
    for name, (flag, suffix) in wanted.items():
        if name not in out:
            done = subprocess.run([hipconfig, flag], capture_output=True, text=True, check=False)
            if done.returncode == 0 and done.stdout.strip():
                out[name] = done.stdout.strip() + suffix
    return out


KFD_TOPOLOGY = Path("/sys/class/kfd/kfd/topology/nodes")
"""The amdgpu kernel driver's compute nodes: one per CPU socket and per GPU."""


def rocm_tool(env: dict[str, str], name: str) -> str | None:
    """A ROCm program on PATH, else in $ROCM_PATH/bin (default /opt/rocm/bin)."""
    found = shutil.which(name, path=env.get("PATH"))
    if found:
        return found
    beside = Path(env.get("ROCM_PATH") or "/opt/rocm") / "bin" / name
    return str(beside) if beside.is_file() and os.access(beside, os.X_OK) else None


def hip_compiler(env: dict[str, str]) -> str | None:
    return rocm_tool(env, "hipcc")


def gfx_name(target_version: int) -> str:
    """KFD's gfx_target_version (major*10000 + minor*100 + stepping) as LLVM names it:
    110000 -> gfx1100, 90402 -> gfx942, 90010 -> gfx90a (minor and stepping in hex)."""
    major, minor, step = target_version // 10000, target_version // 100 % 100, target_version % 100
    return f"gfx{major}{minor:x}{step:x}"


def kfd_gpu_targets(nodes: Path | None = None) -> list[str]:
    """GPU nodes of the kernel driver (CPU nodes have gfx_target_version 0)."""
    nodes = KFD_TOPOLOGY if nodes is None else nodes
    found = []
    for properties in sorted(nodes.glob("*/properties")) if nodes.is_dir() else []:
        try:
            lines = properties.read_text().splitlines()
        except OSError:  # nodes of GPUs a container's cgroup hides cannot be read
            continue
        for key, _, value in (line.partition(" ") for line in lines):
            if key == "gfx_target_version" and value.strip().isdigit() and int(value):
                found.append(gfx_name(int(value)))
    return found


def rocminfo_gpu_targets(text: str) -> list[str]:
    """The `Name: gfx...` of each agent whose `Device Type` is GPU in `rocminfo` output."""
    found, name = [], None
    for line in text.splitlines():
        key, _, value = line.strip().partition(":")
        if key == "Name":
            name = value.strip()
        elif key == "Device Type" and value.strip() == "GPU" and name:
            found.append(name)
    return found


def amd_gpu_targets(env: dict[str, str], nodes: Path | None = None) -> list[str]:
    """The AMD GPUs ROCm can use here, by gfx target: from the kernel's topology, else from
    `rocminfo` (which also needs the driver). Empty when neither lists a GPU."""
    targets = kfd_gpu_targets(nodes)
    rocminfo = rocm_tool(env, "rocminfo") if not targets else None
    if rocminfo is not None:
        try:
            done = subprocess.run(
                [rocminfo], capture_output=True, text=True, timeout=30, check=False
            )
        except (OSError, subprocess.TimeoutExpired):
            return []
        targets = rocminfo_gpu_targets(done.stdout) if done.returncode == 0 else []
    return sorted(set(targets))


AMX_PROBE_C = """
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>
struct tile_config { unsigned char palette, start_row, reserved[14];
                     unsigned short colsb[16]; unsigned char rows[16]; };
int main(void) {
    struct tile_config config = {0};  /* set up the way ggml's AMX kernels do it */
    if (syscall(SYS_arch_prctl, 0x1023 /* ARCH_REQ_XCOMP_PERM */, 18 /* XTILEDATA */)) return 2;
    config.palette = 1;
    config.rows[0] = 16;
    config.colsb[0] = 64;
    _tile_loadconfig(&config);
    _tile_zero(0);
    _tile_release();
    return 0;
}
"""
NO_AMX_FLAGS = ("-DCMAKE_C_FLAGS=-mno-amx-int8", "-DCMAKE_CXX_FLAGS=-mno-amx-int8")
"""ggml compiles its AMX kernels only where `__AMX_INT8__` is defined (-march=native defines it
on a CPU that lists AMX); these flags leave them out and keep every other native feature."""


def cpu_flags() -> str:
    """The first `flags` line of /proc/cpuinfo ('' where there is none)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""
    return next((line for line in text.splitlines() if line.startswith("flags")), "")


def amx_verdict_file(cache_root: Path) -> Path:
    """Where the probe's verdict for this CPU and compiler is kept ("runs" or "faults")."""
    compiler = shutil.which("cc") or shutil.which("gcc") or ""
    seen = f"{cpu_flags()}\n{compiler_version(compiler)}"
    return cache_root / "cpu-probe" / f"amx-{hashlib.sha256(seen.encode()).hexdigest()[:12]}"


def amx_runs(cache_root: Path) -> bool:
    """Whether AMX code built by this machine's compiler runs here. Seen on a Xeon VM with
    GCC 12.2: llama-server died with SIGILL on its first AMX matmul (`tilezero` on a tile
    left unconfigured) — this probe, built the same way, kept only the palette byte of its
    tile configuration and faulted too. Probed once with a tiny program, cached per CPU
    and compiler; a CPU that lists no AMX is not probed."""
    verdict = amx_verdict_file(cache_root)
    if not verdict.is_file():
        if "amx_int8" not in cpu_flags().split():
            return True
        verdict.parent.mkdir(parents=True, exist_ok=True)
        verdict.write_text("runs" if _run_amx_probe() else "faults")
    return verdict.read_text() == "runs"


def compiler_version(compiler: str) -> str:
    if not compiler:
        return ""
    done = subprocess.run([compiler, "--version"], capture_output=True, text=True, check=False)
    return done.stdout.partition("\n")[0]


def _run_amx_probe() -> bool:
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        return True  # nothing to compile llama.cpp with either
    with tempfile.TemporaryDirectory() as scratch:
        source, program = Path(scratch, "amx.c"), Path(scratch, "amx")
        source.write_text(AMX_PROBE_C)
        built = subprocess.run(
            [compiler, "-O3", "-march=native", str(source), "-o", str(program)],
            capture_output=True,
            check=False,
        )
        if built.returncode != 0:
            return True  # a compiler without AMX never emits it for -march=native
        return subprocess.run([str(program)], capture_output=True, check=False).returncode == 0


def make_plan(env: dict[str, str], version: str = LLAMA_CPP_PYTHON_VERSION) -> BuildPlan:
    """Resolve backend and flags; a user's CMAKE_ARGS replaces the backend's flags."""
    backend, reason = detect_backend(env)
    flags = BACKEND_CMAKE_FLAGS[backend]
    cache_root = default_cache_root(env)
    if backend != "metal" and not amx_runs(cache_root):
        flags += NO_AMX_FLAGS
        reason += "; without AMX (code this compiler builds for it faults here)"
    if env.get("CMAKE_ARGS", "").strip():
        flags = tuple(env["CMAKE_ARGS"].split())
        backend, reason = "custom", "CMAKE_ARGS set by the user"
    one_compile = env.get("HOSTBENCH_LLAMA_ONE_COMPILE", "1").strip() not in ("0", "false", "no")
    return BuildPlan(version, backend, reason, flags, cache_root, one_compile)


def run_logged(
    cmd: list[str], log: Path, env: dict[str, str] | None = None, every_s: float = 30.0
) -> None:
    """Run a build command with its output in a log file, saying on stderr every `every_s`
    how far it is (a compile takes minutes); on failure show the log's tail. Ctrl-C stops
    the command too."""
    log.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
        try:
            while proc.poll() is None:
                try:
                    proc.wait(every_s)
                except subprocess.TimeoutExpired:
                    print(build_progress(log, time.monotonic() - started), file=sys.stderr)
        finally:
            if proc.poll() is None:
                proc.terminate()
                proc.wait()
    if proc.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-25:])
        raise BuildError(f"{cmd[0]} {cmd[1]} failed (exit {proc.returncode}); log {log}:\n{tail}")


STEP = re.compile(r"\[\s*(\d+)%\]|\[(\d+)/(\d+)\]")
"""cmake's Makefile progress (`[ 45%]`) or Ninja's (`[123/456]`)."""


def build_progress(log: Path, elapsed_s: float) -> str:
    """`building: 45 % (about 6 min left), 4 min so far; log FILE` from the log's newest step."""
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        lines = []
    done = None
    for line in reversed(lines):
        found = STEP.search(line)
        if found:
            done = int(found[1]) if found[1] else 100 * int(found[2]) // max(1, int(found[3]))
            break
    minutes = f"{elapsed_s / 60:.0f} min so far"
    if not done:
        return f"building: {minutes}; log {log}"
    left = elapsed_s / done * (100 - done) / 60
    return f"building: {done} % (about {left:.0f} min left), {minutes}; log {log}"


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
        configure_env = compiler_env(plan.backend, dict(os.environ))
        run_logged(configure, log_dir / f"native-configure-{plan.key}.log", configure_env)
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
        configure_env = compiler_env(plan.backend, dict(os.environ))
        run_logged(configure, log_dir / f"server-configure-{plan.key}.log", configure_env)
        compile_ = [cmake_program(), "--build", str(build), "--target", "llama-server"]
        compile_ += ["-j", str(jobs)]
        run_logged(compile_, log_dir / f"server-build-{plan.key}.log")
        plan.server_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy2(build / "bin" / "llama-server", binary)
    return binary


def cache_state(plan: BuildPlan) -> str:
    """What the set-up is about to do, said before it does it (a cached build takes seconds)."""
    if cached_file(plan.wheel_dir, "llama_cpp_python-*.whl") and plan.server_binary.is_file():
        return f"reusing the cached build in {plan.cache_root}"
    return "not cached yet: compiling once (about 8 minutes on 2 cores) ..."


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["backend", "cached", "wheel", "server"])
    parser.add_argument("--python", default=sys.executable)
    args = parser.parse_args(argv)
    try:
        plan = make_plan(dict(os.environ))
        plan.cache_root.mkdir(parents=True, exist_ok=True)
        if args.what == "backend":
            print(f"{plan.backend}\t{plan.reason}\t{' '.join(plan.cmake_flags) or '-'}")
        elif args.what == "cached":
            print(cache_state(plan))
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
