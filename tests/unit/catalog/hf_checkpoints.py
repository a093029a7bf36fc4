"""Hugging Face checkpoint directories for the decode-reads tests, built from published
config.json files (tests/fixtures/hf_configs, sources in its SOURCE.md).

Each tensor has the name and shape the real checkpoint gives it: the names are those of
transformers' modeling files (LlamaForCausalLM, Qwen3ForCausalLM, Qwen3MoeForCausalLM,
MixtralForCausalLM, Gemma3ForCausalLM), the shapes follow from the config's dimensions, and
the tests check the total against each model's published exact parameter count. The files
hold the safetensors header only (the 8-byte length and the JSON header, byte ranges as in
a BF16 file) and leave the data section out: the reader reads headers alone, and the real
files weigh 1.2 to 93 GB.
"""

from __future__ import annotations

import json
import shutil
import struct
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "hf_configs"
BF16 = 2
Tensor = tuple[str, tuple[int, ...]]


def config(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def write_header(path: Path, tensors: list[Tensor], dtype: str = "BF16") -> int:
    """A safetensors header for `tensors` stored back to back; returns the data bytes."""
    header: dict[str, Any] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, shape in tensors:
        size = BF16
        for dim in shape:
            size *= dim
        header[name] = {
            "dtype": dtype,
            "shape": list(shape),
            "data_offsets": [offset, offset + size],
        }
        offset += size
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)  # the format pads the header to 8 bytes
    path.write_bytes(struct.pack("<Q", len(raw)) + raw)
    return offset


def write_checkpoint(directory: Path, name: str, shards: int = 1) -> Path:
    """`directory` with the fixture's config.json and its tensors' headers, in one
    model.safetensors or in `shards` files named in model.safetensors.index.json."""
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copy(FIXTURES / f"{name}.json", directory / "config.json")
    tensors = list(checkpoint_tensors(config(name)))
    if shards == 1:
        write_header(directory / "model.safetensors", tensors)
        return directory
    weight_map: dict[str, str] = {}
    for index in range(shards):
        file = f"model-{index + 1:05d}-of-{shards:05d}.safetensors"
        part = tensors[index::shards]
        write_header(directory / file, part)
        weight_map.update({tensor_name: file for tensor_name, _ in part})
    index_json = {"metadata": {}, "weight_map": weight_map}
    (directory / "model.safetensors.index.json").write_text(json.dumps(index_json))
    return directory


def parameter_count(cfg: Mapping[str, Any]) -> int:
    total = 0
    for _, shape in checkpoint_tensors(cfg):
        count = 1
        for dim in shape:
            count *= dim
        total += count
    return total


def checkpoint_tensors(cfg: Mapping[str, Any]) -> Iterator[Tensor]:
    hidden, vocab = cfg["hidden_size"], cfg["vocab_size"]
    yield "model.embed_tokens.weight", (vocab, hidden)
    for il in range(cfg["num_hidden_layers"]):
        yield from _attention(cfg, f"model.layers.{il}.")
        yield from _feed_forward(cfg, f"model.layers.{il}.")
    yield "model.norm.weight", (hidden,)
    # transformers' default where the config is silent: tied for Gemma 3, untied otherwise
    if not cfg.get("tie_word_embeddings", cfg["model_type"] == "gemma3_text"):
        yield "lm_head.weight", (vocab, hidden)


def _attention(cfg: Mapping[str, Any], prefix: str) -> Iterator[Tensor]:
    hidden, heads = cfg["hidden_size"], cfg["num_attention_heads"]
    head_dim = cfg.get("head_dim") or hidden // heads
    q, kv = heads * head_dim, cfg["num_key_value_heads"] * head_dim
    attn = prefix + "self_attn."
    yield attn + "q_proj.weight", (q, hidden)
    yield attn + "k_proj.weight", (kv, hidden)
    yield attn + "v_proj.weight", (kv, hidden)
    yield attn + "o_proj.weight", (hidden, q)
    if cfg["model_type"] in ("qwen3", "qwen3_moe", "gemma3_text"):  # QK-norm
        yield attn + "q_norm.weight", (head_dim,)
        yield attn + "k_norm.weight", (head_dim,)
    yield prefix + "input_layernorm.weight", (hidden,)
    yield prefix + "post_attention_layernorm.weight", (hidden,)
    if cfg["model_type"] == "gemma3_text":  # Gemma 3's extra norms around the MLP
        yield prefix + "pre_feedforward_layernorm.weight", (hidden,)
        yield prefix + "post_feedforward_layernorm.weight", (hidden,)


def _feed_forward(cfg: Mapping[str, Any], prefix: str) -> Iterator[Tensor]:
    hidden = cfg["hidden_size"]
    if cfg["model_type"] == "qwen3_moe":
        experts, width = cfg["num_experts"], cfg["moe_intermediate_size"]
        yield prefix + "mlp.gate.weight", (experts, hidden)
        for e in range(experts):
            yield from _mlp(prefix + f"mlp.experts.{e}.", hidden, width)
    elif cfg["model_type"] == "mixtral":
        experts, width = cfg["num_local_experts"], cfg["intermediate_size"]
        moe = prefix + "block_sparse_moe."
        yield moe + "gate.weight", (experts, hidden)
        for e in range(experts):
            expert = moe + f"experts.{e}."
            yield expert + "w1.weight", (width, hidden)
            yield expert + "w2.weight", (hidden, width)
            yield expert + "w3.weight", (width, hidden)
    else:
        yield from _mlp(prefix + "mlp.", hidden, cfg["intermediate_size"])


def _mlp(prefix: str, hidden: int, width: int) -> Iterator[Tensor]:
    yield prefix + "gate_proj.weight", (width, hidden)
    yield prefix + "up_proj.weight", (width, hidden)
    yield prefix + "down_proj.weight", (hidden, width)
