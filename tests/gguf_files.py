"""Small but real GGUF files for tests, written with the gguf library: a llama-shaped
model with the tensor names and shapes llama.cpp expects, and zero weights."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import gguf
import numpy as np


@dataclass(frozen=True)
class TinyModel:
    n_layers: int = 4
    n_embd: int = 128
    n_heads: int = 4
    n_kv_heads: int = 2
    n_ff: int = 256
    n_vocab: int = 320
    n_ctx: int = 2048
    weight_type: str = "F16"
    tied: bool = False
    sliding_window: int | None = None
    sliding_window_pattern: int | None = None
    arch: str = "llama"

    @property
    def head_dim(self) -> int:
        return self.n_embd // self.n_heads


def _tensor(shape: tuple[int, ...], kind: str) -> tuple[np.ndarray, gguf.GGMLQuantizationType]:
    """Zeros of `shape` (rows x columns, numpy order) stored as `kind`."""
    qtype = gguf.GGMLQuantizationType[kind]
    data = np.zeros(shape, dtype=np.float32)
    if kind == "F32":
        return data, qtype
    if kind == "F16":
        return data.astype(np.float16), qtype
    return gguf.quants.quantize(data, qtype), qtype


def write_tiny_gguf(path: Path, model: TinyModel | None = None) -> Path:
    m = model or TinyModel()
    writer = gguf.GGUFWriter(path, m.arch)
    writer.add_block_count(m.n_layers)
    writer.add_context_length(m.n_ctx)
    writer.add_embedding_length(m.n_embd)
    writer.add_feed_forward_length(m.n_ff)
    writer.add_head_count(m.n_heads)
    writer.add_head_count_kv(m.n_kv_heads)
    writer.add_file_type(gguf.LlamaFileType[f"MOSTLY_{m.weight_type}"])
    if m.sliding_window:
        writer.add_sliding_window(m.sliding_window)
    if m.sliding_window_pattern:
        writer.add_uint32(f"{m.arch}.attention.sliding_window_pattern", m.sliding_window_pattern)
    writer.add_token_list([f"t{i}" for i in range(m.n_vocab)])
    writer.add_token_merges([f"t{i} t{i + 1}" for i in range(m.n_vocab - 1)])
    for name, shape, kind in _tensors(m):
        data, qtype = _tensor(shape, kind)
        writer.add_tensor(name, data, raw_dtype=qtype if kind != "F32" else None)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def _tensors(m: TinyModel) -> list[tuple[str, tuple[int, ...], str]]:
    kv = m.n_kv_heads * m.head_dim
    out = [("token_embd.weight", (m.n_vocab, m.n_embd), m.weight_type)]
    for i in range(m.n_layers):
        out += [
            (f"blk.{i}.attn_norm.weight", (m.n_embd,), "F32"),
            (f"blk.{i}.attn_q.weight", (m.n_embd, m.n_embd), m.weight_type),
            (f"blk.{i}.attn_k.weight", (kv, m.n_embd), m.weight_type),
            (f"blk.{i}.attn_v.weight", (kv, m.n_embd), m.weight_type),
            (f"blk.{i}.attn_output.weight", (m.n_embd, m.n_embd), m.weight_type),
            (f"blk.{i}.ffn_norm.weight", (m.n_embd,), "F32"),
            (f"blk.{i}.ffn_gate.weight", (m.n_ff, m.n_embd), m.weight_type),
            (f"blk.{i}.ffn_up.weight", (m.n_ff, m.n_embd), m.weight_type),
            (f"blk.{i}.ffn_down.weight", (m.n_embd, m.n_ff), m.weight_type),
        ]
    out.append(("output_norm.weight", (m.n_embd,), "F32"))
    if not m.tied:
        out.append(("output.weight", (m.n_vocab, m.n_embd), m.weight_type))
    return out
