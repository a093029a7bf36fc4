"""The fast header reader agrees with gguf-py's reader, and knows when bytes run out."""

from __future__ import annotations

from pathlib import Path

import gguf
import pytest

from catalog import InvalidModelFileError, read_gguf_info
from catalog.gguf_header import BadHeader, TruncatedHeader, parse_header, read_header
from tests.gguf_files import TinyModel, write_tiny_gguf


@pytest.mark.parametrize("kind", ["F16", "Q8_0", "Q4_0"])
def test_agrees_with_gguf_py(tmp_path: Path, kind: str) -> None:
    path = write_tiny_gguf(tmp_path / "m.gguf", TinyModel(weight_type=kind))
    header, reference = read_header(path), gguf.GGUFReader(path)
    assert header.data_offset == reference.data_offset
    ours = {t.name: t.n_elements for t in header.tensors}
    assert ours == {t.name: int(t.n_elements) for t in reference.tensors}
    info = read_gguf_info(path)
    assert info.weights_bytes == sum(int(t.n_bytes) for t in reference.tensors)
    assert info.quant == kind
    assert (info.n_layers, info.n_heads, info.n_kv_heads, info.head_dim_k) == (4, 4, 2, 32)
    assert (info.n_tokens, info.n_merges) == (320, 319)


def test_a_short_buffer_asks_for_more(tmp_path: Path) -> None:
    data = write_tiny_gguf(tmp_path / "m.gguf").read_bytes()
    full = parse_header(data)
    with pytest.raises(TruncatedHeader):
        parse_header(data[: full.data_offset // 2], len(data))
    assert parse_header(data[: full.data_offset], len(data)).tensors == full.tensors
    with pytest.raises(BadHeader, match="needs more than"):  # the buffer is the whole file
        parse_header(data[: full.data_offset // 2])


def test_layer_bytes_come_from_the_tensor_table(tmp_path: Path) -> None:
    m = TinyModel(weight_type="F16")
    info = read_gguf_info(write_tiny_gguf(tmp_path / "m.gguf", m))
    kv = m.n_kv_heads * m.head_dim
    matrices = 2 * m.n_embd * m.n_embd + 2 * kv * m.n_embd + 3 * m.n_ff * m.n_embd
    expected = matrices * 2 + 2 * m.n_embd * 4
    assert info.layer_bytes() == dict.fromkeys(range(4), expected)


def test_not_a_gguf_file(tmp_path: Path) -> None:
    (tmp_path / "x.gguf").write_bytes(b"not gguf at all")
    with pytest.raises(InvalidModelFileError, match="not a GGUF"):
        read_gguf_info(tmp_path / "x.gguf")
