"""Which engine for a model on given hardware (recorded GPU readings), and the A/B set."""

from __future__ import annotations

from pathlib import Path

import pytest

from catalog import LocalModels, load_catalog
from profiles import Locations
from storage import Store
from tests.unit.catalog.conftest import machine
from workflows.recommend import recommend_engine


@pytest.fixture
def registry(home: Path) -> LocalModels:
    locations = Locations.from_env().ensure()
    return LocalModels(Store(locations.store_path))


def choose(model: str, registry: LocalModels, fixture: str | None, users: int = 1):  # type: ignore[no-untyped-def]
    snapshot = machine(fixture)
    return recommend_engine(
        model, load_catalog(), registry, snapshot, users=users, vllm_installed=True
    )


def test_without_a_gpu_it_is_llama_cpp(registry: LocalModels) -> None:
    found = choose("qwen2.5-7b-instruct", registry, None, users=50)
    assert found.engine == "llama.cpp" and "CUDA" in found.reasons[0]
    assert [c.engine for c in found.choices if c.runnable] == ["llama.cpp"]


def test_many_users_on_a_supported_gpu_get_vllm(registry: LocalModels) -> None:
    found = choose("qwen2.5-7b-instruct", registry, "process_a100", users=16)
    assert found.engine == "vllm" and "batches" in found.reasons[0]
    assert {c.engine for c in found.choices if c.runnable} == {"vllm", "llama.cpp"}


def test_one_user_gets_llama_cpp_but_vllm_could_run(registry: LocalModels) -> None:
    found = choose("qwen2.5-7b-instruct", registry, "process_a100")
    assert found.engine == "llama.cpp"
    assert {c.engine: c.runnable for c in found.choices} == {"llama.cpp": True, "vllm": True}


def test_gguf_only_or_too_large_is_llama_cpp(registry: LocalModels) -> None:
    gguf = choose("/models/mine.Q4_K_M.gguf", registry, "process_a100", users=16)
    assert gguf.engine == "llama.cpp" and "GGUF" in gguf.reasons[0]
    big = choose("llama-3.3-70b-instruct", registry, "process_a100", users=16)
    assert big.engine == "llama.cpp" and "per GPU" in big.reasons[0]


def test_vllm_not_installed_is_said(registry: LocalModels) -> None:
    found = recommend_engine(
        "qwen2.5-7b-instruct", load_catalog(), registry, machine("process_a100"),
        users=16, vllm_installed=False,
    )  # fmt: skip
    assert found.engine == "llama.cpp" and "hostbench[vllm]" in found.reasons[0]
