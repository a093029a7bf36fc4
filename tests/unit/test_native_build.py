"""Choosing the llama.cpp backend and cache key for the native builds."""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import zipfile
from pathlib import Path

import pytest

from engines.llamacpp.build import BuildError, bundle_libraries, detect_backend, make_plan


def test_override_wins() -> None:
    assert detect_backend({"HOSTBENCH_LLAMA_BACKEND": "Vulkan"}) == (
        "vulkan",
        "HOSTBENCH_LLAMA_BACKEND",
    )


def test_unknown_override_is_an_error() -> None:
    with pytest.raises(BuildError, match="not one of"):
        detect_backend({"HOSTBENCH_LLAMA_BACKEND": "tpu"})


def test_cuda_only_with_a_visible_gpu() -> None:
    backend, reason = detect_backend({})
    assert backend in ("cpu", "cuda", "metal", "rocm")
    if backend == "cpu":
        assert "GPU" in reason or "toolkit" in reason


def _amx_verdict(cache_dir: Path, verdict: str) -> None:
    """What the AMX probe would have cached for this machine's CPU and compiler."""
    from engines.llamacpp import build

    file = build.amx_verdict_file(cache_dir / "build")
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(verdict)


def test_user_cmake_args_get_their_own_cache_key(tmp_path: Path) -> None:
    _amx_verdict(tmp_path, "runs")
    cache = str(tmp_path)
    plain = make_plan({"HOSTBENCH_LLAMA_BACKEND": "cpu", "HOSTBENCH_CACHE_DIR": cache})
    custom = make_plan({"CMAKE_ARGS": "-DGGML_BLAS=ON", "HOSTBENCH_CACHE_DIR": cache})
    cuda = make_plan({"HOSTBENCH_LLAMA_BACKEND": "cuda", "HOSTBENCH_CACHE_DIR": cache})
    assert custom.backend == "custom" and custom.cmake_flags == ("-DGGML_BLAS=ON",)
    assert len({plain.key, custom.key, cuda.key}) == 3
    assert cuda.server_dir.is_relative_to(tmp_path / "build" / "llama-server")
    assert cuda.cmake_flags == ("-DGGML_CUDA=on",)


def test_a_cpu_whose_amx_code_faults_is_built_without_it(tmp_path: Path) -> None:
    """The Xeon test VM's case: ggml's AMX matmul died with SIGILL (GCC 12.2)."""
    from engines.llamacpp.build import NO_AMX_FLAGS

    env = {"HOSTBENCH_LLAMA_BACKEND": "cuda", "HOSTBENCH_CACHE_DIR": str(tmp_path)}
    _amx_verdict(tmp_path, "runs")
    working = make_plan(env)
    _amx_verdict(tmp_path, "faults")
    faulting = make_plan(env)
    assert faulting.cmake_flags == ("-DGGML_CUDA=on", *NO_AMX_FLAGS)
    assert "without AMX" in faulting.reason and "AMX" not in working.reason
    assert faulting.key != working.key, "a build with AMX is never reused without it"
    user = make_plan({**env, "CMAKE_ARGS": "-DGGML_BLAS=ON"})
    assert user.cmake_flags == ("-DGGML_BLAS=ON",), "the user's flags replace ours"


def test_the_amx_probe_compiles_and_answers(tmp_path: Path) -> None:
    """Built and run for real where a compiler is present: a bool, never an exception."""
    from engines.llamacpp import build

    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler here")
    assert build._run_amx_probe() in (True, False)
    assert build.amx_runs(tmp_path) in (True, False)


def test_one_compile_is_the_default_and_never_shares_a_cache_entry(tmp_path: Path) -> None:
    env = {"HOSTBENCH_LLAMA_BACKEND": "cpu", "HOSTBENCH_CACHE_DIR": str(tmp_path)}
    one = make_plan(env)
    two = make_plan({**env, "HOSTBENCH_LLAMA_ONE_COMPILE": "0"})
    assert one.one_compile and not two.one_compile
    assert one.key == two.key, "same sources and flags"
    assert one.wheel_dir != two.wheel_dir, "a bindings-only wheel never replaces a full one"
    assert one.server_binary == tmp_path / "build/llama-cpp" / one.key / "llama-server"
    assert two.server_binary == tmp_path / "build/llama-server" / two.key / "llama-server"


def test_bundled_wheel_carries_the_libraries_with_a_valid_record(tmp_path: Path) -> None:
    wheel = tmp_path / "llama_cpp_python-0.3.36-py3-none-linux_x86_64.whl"
    record = "llama_cpp_python-0.3.36.dist-info/RECORD"
    with zipfile.ZipFile(wheel, "w") as out:
        out.writestr("llama_cpp/__init__.py", "x = 1\n")
        out.writestr(record, "llama_cpp/__init__.py,sha256=abc,6\n" + record + ",,\n")
    native = tmp_path / "native"
    native.mkdir()
    (native / "libllama.so.0.5.0").write_bytes(b"\x7fELF llama")
    (native / "libllama.so.0").symlink_to("libllama.so.0.5.0")
    (native / "libllama.so").symlink_to("libllama.so.0")
    (native / "libggml-base.so").write_bytes(b"\x7fELF ggml")
    (native / "libllama-server-impl.so").write_bytes(b"server only")
    (native / "llama-server").write_bytes(b"program")
    bundled = bundle_libraries(wheel, native, tmp_path / "out")
    with zipfile.ZipFile(bundled) as done:
        names = set(done.namelist())
        rows = {r.split(",")[0]: r.split(",")[1:] for r in done.read(record).decode().split()}
        lib = done.read("llama_cpp/lib/libllama.so")
    assert {
        "llama_cpp/lib/libllama.so",
        "llama_cpp/lib/libllama.so.0",
        "llama_cpp/lib/libggml-base.so",
    } <= names
    assert not any("server" in n for n in names), "only what the bindings load"
    assert lib == b"\x7fELF llama", "links become copies"
    digest = base64.urlsafe_b64encode(hashlib.sha256(lib).digest()).rstrip(b"=").decode()
    assert rows["llama_cpp/lib/libllama.so"] == [f"sha256={digest}", str(len(lib))]
    assert rows[record] == ["", ""] and set(rows) == names


ROCMINFO = Path(__file__).resolve().parents[1] / "fixtures" / "amd" / "mi300x_rocminfo_excerpt.json"


def _tool(directory: Path, name: str, body: str) -> None:
    """A stand-in for a ROCm program (none can run here) that prints a recorded output."""
    program = directory / name
    program.write_text(f"#!/bin/sh\n{body}\n")
    program.chmod(0o755)


@pytest.fixture
def rocm_bin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A PATH with only a fake hipcc (and no nvcc), and no KFD topology."""
    from engines.llamacpp import build

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _tool(bin_dir, "hipcc", "exit 0")
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setattr(build, "KFD_TOPOLOGY", tmp_path / "no-kfd")
    return bin_dir


def test_rocm_chooses_itself_when_rocminfo_lists_a_gpu(rocm_bin: Path) -> None:
    """rocminfo's recorded output on a 4 x MI300X machine: two CPU agents, GPU agents gfx942."""
    import json

    recorded = json.loads(ROCMINFO.read_text())["rocminfo"]
    (rocm_bin / "rocminfo.txt").write_text(recorded)
    _tool(
        rocm_bin, "rocminfo", f"{shutil.which('cat', path=os.defpath)} {rocm_bin / 'rocminfo.txt'}"
    )
    env = {"ROCM_PATH": str(rocm_bin.parent / "no-rocm"), "HOSTBENCH_CACHE_DIR": str(rocm_bin)}
    _amx_verdict(rocm_bin, "runs")
    assert detect_backend(env) == ("rocm", "hipcc found and ROCm reports a GPU (gfx942)")
    assert make_plan(env).cmake_flags == ("-DGGML_HIP=on",)


def test_hipcc_without_a_gpu_builds_for_the_cpu(rocm_bin: Path) -> None:
    """Before: hipcc and /dev/kfd chose ROCm even where ROCm lists no GPU."""
    cpus_only = json_rocminfo_without_gpus()
    (rocm_bin / "rocminfo.txt").write_text(cpus_only)
    _tool(
        rocm_bin, "rocminfo", f"{shutil.which('cat', path=os.defpath)} {rocm_bin / 'rocminfo.txt'}"
    )
    assert detect_backend({"ROCM_PATH": "/nowhere"}) == (
        "cpu",
        "hipcc found but no AMD GPU is visible",
    )


def json_rocminfo_without_gpus() -> str:
    import json

    text = json.loads(ROCMINFO.read_text())["rocminfo"]
    return text.split("Agent 3")[0]


def test_kfd_topology_names_gfx_targets(tmp_path: Path) -> None:
    from engines.llamacpp.build import gfx_name, kfd_gpu_targets

    assert [gfx_name(v) for v in (110000, 90402, 90010, 100300)] == [
        "gfx1100", "gfx942", "gfx90a", "gfx1030",
    ]  # fmt: skip
    for node, version in (("0", 0), ("1", 110000)):
        (tmp_path / node).mkdir()
        (tmp_path / node / "properties").write_text(
            f"cpu_cores_count 0\nsimd_count 192\ngfx_target_version {version}\nvendor_id 4098\n"
        )
    assert kfd_gpu_targets(tmp_path) == ["gfx1100"]


def test_hip_build_gets_rocm_clang(tmp_path: Path) -> None:
    from engines.llamacpp.build import compiler_env

    _tool(
        tmp_path,
        "hipconfig",
        'case "$1" in -l) echo /opt/rocm/llvm/bin;; -R) echo /opt/rocm;; esac',
    )
    env = {"PATH": str(tmp_path)}
    got = compiler_env("rocm", env)
    assert got is not None
    assert (got["HIPCXX"], got["HIP_PATH"]) == ("/opt/rocm/llvm/bin/clang", "/opt/rocm")
    assert compiler_env("rocm", {**env, "HIPCXX": "/my/clang"})["HIPCXX"] == "/my/clang"
    assert compiler_env("cuda", env) is None
