"""Choosing the llama.cpp backend and cache key for the native builds."""

from __future__ import annotations

import base64
import hashlib
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


def test_user_cmake_args_get_their_own_cache_key() -> None:
    plain = make_plan({"HOSTBENCH_LLAMA_BACKEND": "cpu", "HOSTBENCH_CACHE_DIR": "/c"})
    custom = make_plan({"CMAKE_ARGS": "-DGGML_BLAS=ON", "HOSTBENCH_CACHE_DIR": "/c"})
    cuda = make_plan({"HOSTBENCH_LLAMA_BACKEND": "cuda", "HOSTBENCH_CACHE_DIR": "/c"})
    assert custom.backend == "custom" and custom.cmake_flags == ("-DGGML_BLAS=ON",)
    assert len({plain.key, custom.key, cuda.key}) == 3
    assert str(cuda.server_dir).startswith("/c/build/llama-server/")
    assert cuda.cmake_flags == ("-DGGML_CUDA=on",)


def test_one_compile_is_the_default_and_never_shares_a_cache_entry() -> None:
    env = {"HOSTBENCH_LLAMA_BACKEND": "cpu", "HOSTBENCH_CACHE_DIR": "/c"}
    one = make_plan(env)
    two = make_plan({**env, "HOSTBENCH_LLAMA_ONE_COMPILE": "0"})
    assert one.one_compile and not two.one_compile
    assert one.key == two.key, "same sources and flags"
    assert one.wheel_dir != two.wheel_dir, "a bindings-only wheel never replaces a full one"
    assert one.server_binary == Path("/c/build/llama-cpp") / one.key / "llama-server"
    assert two.server_binary == Path("/c/build/llama-server") / two.key / "llama-server"


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
