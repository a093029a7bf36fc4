"""Hub search without a network: quants from file names, `hf:` references, the cache."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from catalog.errors import SourceUnavailableError
from catalog.fit import FitOptions
from catalog.hub_files import HubRef, HubRefError, is_model_file, quant_from_name, split_part
from catalog.hub_search import HubFileResult, HubRepoResult, HubSearch
from catalog.hub_search_cache import SearchCache, search_or_cached
from catalog.placement import Device, Devices
from catalog.resolve import looks_like_path


@pytest.mark.parametrize(
    ("name", "quant"),
    [
        ("smollm2-135m-instruct-q8_0.gguf", "Q8_0"),
        ("Qwen2.5-7B-Instruct-Q4_K_M.gguf", "Q4_K_M"),
        ("Meta-Llama-3-8B-Instruct.IQ2_XXS.gguf", "IQ2_XXS"),
        ("gemma-3-4b-it-BF16.gguf", "BF16"),
        ("model-f16.gguf", "F16"),
        ("Q4_K_M/big-model-Q4_K_M-00001-of-00002.gguf", "Q4_K_M"),
        ("tiny-UD-Q4_K_XL.gguf", None),  # not a llama.cpp type: the header will say
        ("llama.gguf", None),
    ],
)
def test_quant_from_the_file_name(name: str, quant: str | None) -> None:
    assert quant_from_name(name) == quant


def test_split_parts_and_projectors_are_told_apart() -> None:
    assert split_part("m-Q8_0-00002-of-00003.gguf") == (2, 3)
    assert split_part("m-Q8_0.gguf") is None
    assert not is_model_file("mmproj-model-f16.gguf") and is_model_file("m-Q8_0.gguf")


def test_hub_references() -> None:
    ref = HubRef.parse("hf:Org/Repo-GGUF/sub/Model-Q8_0.gguf")
    assert (ref.repo, ref.file, ref.local_id) == (
        "Org/Repo-GGUF",
        "sub/Model-Q8_0.gguf",
        "model-q8_0",
    )
    assert str(ref) == "hf:Org/Repo-GGUF/sub/Model-Q8_0.gguf"
    assert not looks_like_path(str(ref)) and looks_like_path("models/m.gguf")
    for bad in ("hf:Org/Model-Q8_0.gguf", "hf:Org/Repo/README.md", "hf:Org//m.gguf"):
        with pytest.raises(HubRefError, match=r"hf:ORG/REPO/FILE\.gguf"):
            HubRef.parse(bad)


def _search(query: str) -> HubSearch:
    item = HubFileResult("m-Q8_0.gguf", "Q8_0", 1 << 20, "CPU only", "hf:o/r/m-Q8_0.gguf")
    repo = HubRepoResult("o/r", 5, 1, False, (item,))
    return HubSearch(query, datetime(2026, 1, 2, 3, 4, tzinfo=UTC), "ctx 4096", (repo,))


def test_the_cache_keeps_one_answer_per_query_and_limit(tmp_path: Path) -> None:
    cache = SearchCache(tmp_path / "hub-search")
    assert cache.load("smol", 5) is None
    cache.save(_search("smol"), 5)
    assert cache.load("  SMOL ", 5) == _search("smol")
    assert cache.load("smol", 10) is None
    cache.path_for("smol", 5).write_text("{not json")
    assert cache.load("smol", 5) is None


def test_offline_falls_back_to_the_cache_saying_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # discard port: refused
    cache, devices = SearchCache(tmp_path), Devices(Device("RAM", 8 << 30, 0, is_gpu=False))
    with pytest.raises(SourceUnavailableError, match="no cached results for 'smol'"):
        search_or_cached("smol", cache, FitOptions(), devices)
    cache.save(_search("smol"), 5)
    found = search_or_cached("smol", cache, FitOptions(), devices)
    assert found.repos == _search("smol").repos
    assert "cannot reach Hugging Face" in (found.cached_because or "")


def test_a_launch_by_reference_serves_under_the_local_id() -> None:
    from workflows.launching import served_name_for

    ref = "hf:Org/Repo-GGUF/Model-Q8_0.gguf"
    assert served_name_for(ref, "model-q8_0") == "model-q8_0"
