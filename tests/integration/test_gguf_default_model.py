"""The bounded, type-checked header reader still reads the real default model exactly as
gguf-py does, and gives the dimensions recorded for it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import gguf
import pytest

from catalog import read_gguf_info
from catalog.gguf_header import read_header
from catalog.model_shape import shape_from_gguf
from tests.servers import DEFAULT_MODEL
from tests.unit.catalog.conftest import smollm2

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def model_path(session_home: Path) -> Path:
    return session_home / "data" / "models" / DEFAULT_MODEL / "SmolLM2-135M-Instruct.Q4_1.gguf"


def test_the_header_matches_gguf_py(model_path: Path) -> None:
    ours, reference = read_header(model_path), gguf.GGUFReader(model_path)
    assert ours.data_offset == reference.data_offset and ours.file_size == model_path.stat().st_size
    expected = [
        (t.name, int(t.tensor_type), tuple(int(d) for d in t.shape), int(t.data_offset))
        for t in reference.tensors
    ]
    got = [(t.name, t.ggml_type, t.shape, ours.data_offset + t.offset) for t in ours.tensors]
    assert got == expected and len(got) == 272
    for key in ("general.architecture", "llama.block_count", "llama.context_length",
                "llama.attention.head_count_kv", "tokenizer.ggml.eos_token_id"):  # fmt: skip
        field = reference.fields[key]
        value = field.contents()
        assert ours.fields[key] == value, key
    assert ours.array_lengths["tokenizer.ggml.tokens"] == 49152


def test_the_shape_is_the_recorded_one(model_path: Path) -> None:
    info = read_gguf_info(model_path)
    shape = shape_from_gguf(info, "smollm2", model_path.stat().st_size)
    recorded = smollm2()
    assert shape == dataclasses.replace(recorded, source=shape.source)
    assert (info.quant, info.n_tokens, info.n_merges, info.eos_token_id) == (
        "Q4_1",
        49152,
        48900,
        2,
    )
