"""Choosing the llama.cpp backend and cache key for the native builds."""

from __future__ import annotations

import pytest

from engines.llamacpp.build import BuildError, detect_backend, make_plan


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
