"""Every shipped catalog entry validates and carries its provenance."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from catalog import load_catalog
from catalog.loader import ENTRIES_DIR
from catalog.model_shape import shape_from_catalog


def test_every_shipped_entry_validates() -> None:
    catalog = load_catalog()
    assert catalog.problems == ()
    assert len(catalog.entries) >= 25
    assert len(list(ENTRIES_DIR.glob("*.toml"))) == len(catalog.entries)


@pytest.mark.parametrize("entry", load_catalog().entries.values(), ids=lambda e: e.id)
def test_entry_keeps_its_sources_and_names_only_seen_files(entry) -> None:
    assert any(s.startswith("https://") for s in entry.facts_source)
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", entry.facts_retrieved or "")
    for gguf in entry.gguf:
        assert gguf.pypi_sources or gguf.seen_in_public_code, gguf.file
        assert not re.search(r"-\d{5}-of-\d{5}", gguf.file), "split files are not pullable"
    assert entry.gguf or entry.gguf_repos


@pytest.mark.parametrize("entry", load_catalog().entries.values(), ids=lambda e: e.id)
def test_entry_has_what_the_estimate_needs(entry) -> None:
    shape = shape_from_catalog(entry, entry.default_quant)
    assert shape.n_layers == entry.architecture.n_layers
    assert not shape.exact


def test_moe_and_sliding_window_facts_are_kept() -> None:
    catalog = load_catalog()
    moe = catalog.get("qwen3-30b-a3b")
    assert moe.architecture.moe.n_experts == 128 and moe.params_active_b == 3.353
    gemma = catalog.get("gemma-3-12b-it").architecture.sliding_window
    assert (gemma.window, gemma.pattern) == (1024, 6)


def test_broken_entries_are_reported_by_name_and_skipped(tmp_path: Path) -> None:
    shutil.copy(ENTRIES_DIR / "qwen3-8b.toml", tmp_path)
    text = (ENTRIES_DIR / "qwen3-30b-a3b.toml").read_text()
    (tmp_path / "moe.toml").write_text(
        text.replace("params_active_b = 3.353", "params_active_b = 99")
    )
    (tmp_path / "zz-dup.toml").write_text((ENTRIES_DIR / "qwen3-8b.toml").read_text())
    catalog = load_catalog(tmp_path)
    assert list(catalog.entries) == ["qwen3-8b"]
    problems = dict(p.split(": ", 1) for p in catalog.problems)
    assert set(problems) == {"moe.toml", "zz-dup.toml"}
    assert "exceeds params_total_b" in problems["moe.toml"]
    assert "duplicate id" in problems["zz-dup.toml"]


def test_an_entry_without_single_files_says_where_to_look() -> None:
    from catalog import ModelRef, QuantNotAvailableError

    with pytest.raises(QuantNotAvailableError, match="no single GGUF file for gpt-oss-120b"):
        load_catalog().resolve(ModelRef.parse("gpt-oss-120b"))
