"""The decode bound's inputs for a Hugging Face checkpoint (what vLLM serves), checked
against published figures, not against the code's own arithmetic.

Configs are the models' real config.json files and the tensor layouts follow the real
checkpoints at full size (tests/unit/catalog/hf_checkpoints.py: headers only, no data);
tests/fixtures/hf_configs/SOURCE.md names every source. The published figures:

- exact parameter counts, keras-hub presets (commit 71453d08): Qwen3-0.6B 596,049,920;
  Qwen3-30B-A3B 30,532,122,624 ("3.3 billion activated"); Mixtral-8x7B 46,702,792,704;
  Gemma 3 1B 999,885,952; Llama 3.1 8B 8,030,261,248;
- Mixtral 8x7B uses 12.9B parameters per token (Mistral AI's release);
- Gemma 3: 5 local layers for every global one, starting with a local layer (report);
  Gemma 2: local and global attention in every other layer, a 4096-token window (report);
- gpt-oss-20b: 24 layers alternating 128-token windows and full attention, 8 KV heads of 64
  (NVIDIA Megatron Bridge's model page);
- DeepSeek-V2: multi-head latent attention caches (d_c + d_h^R) values per layer and token,
  as much as GQA with 2.25 groups (paper, Table 1).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from catalog import load_catalog
from catalog.errors import InvalidModelFileError
from catalog.fit_safetensors import (
    checkpoint_decode_reads,
    checkpoint_dir,
    kv_widths,
    language_config,
    read_checkpoint,
    sliding_layers,
)
from tests.unit.catalog.hf_checkpoints import (
    BF16,
    config,
    parameter_count,
    write_checkpoint,
    write_header,
)

PUBLISHED_PARAMS = {
    "qwen3-0.6b": 596_049_920,
    "qwen3-30b-a3b": 30_532_122_624,
    "mixtral-8x7b-v0.1": 46_702_792_704,
    "gemma-3-1b-it": 999_885_952,
    "llama-3.1-8b-instruct": 8_030_261_248,
}
PUBLISHED_ACTIVE = {"qwen3-30b-a3b": 3.3e9, "mixtral-8x7b-v0.1": 12.9e9}
"""Rounded to 0.1B by their publishers: compared within 0.06B."""


def embedding_params(name: str) -> int:
    cfg = config(name)
    return int(cfg["vocab_size"] * cfg["hidden_size"])


@pytest.mark.parametrize("name", sorted(PUBLISHED_PARAMS))
def test_the_synthesized_checkpoints_have_the_published_size(name: str, tmp_path: Path) -> None:
    """The fixtures' tensor layouts are the real ones: to the parameter, as published."""
    assert parameter_count(config(name)) == PUBLISHED_PARAMS[name]
    checkpoint = read_checkpoint(write_checkpoint(tmp_path / name, name))
    assert sum(t.n_bytes for t in checkpoint.tensors) == PUBLISHED_PARAMS[name] * BF16


@pytest.mark.parametrize("name", ["qwen3-0.6b", "gemma-3-1b-it"])
def test_tied_embeddings_are_read_as_the_output_head(name: str, tmp_path: Path) -> None:
    reads = checkpoint_decode_reads(write_checkpoint(tmp_path, name))
    assert reads.weights_bytes == PUBLISHED_PARAMS[name] * BF16


def test_an_untied_embedding_is_one_row_per_token(tmp_path: Path) -> None:
    """Llama 3.1 8B has its own output head: the 128256 x 4096 embedding is not read."""
    reads = checkpoint_decode_reads(write_checkpoint(tmp_path, "llama-3.1-8b-instruct"))
    expected = PUBLISHED_PARAMS["llama-3.1-8b-instruct"] - 128_256 * 4096
    assert reads.weights_bytes == expected * BF16


@pytest.mark.parametrize(("name", "shards"), [("qwen3-30b-a3b", 4), ("mixtral-8x7b-v0.1", 1)])
def test_moe_reads_only_the_active_experts(name: str, shards: int, tmp_path: Path) -> None:
    """A decode step reads the published active parameters less the embedding (one row of
    it): Qwen3's `num_experts`, Mixtral's `num_local_experts` and `block_sparse_moe` names;
    Qwen3-30B-A3B split over shards named in model.safetensors.index.json, as published."""
    reads = checkpoint_decode_reads(write_checkpoint(tmp_path, name, shards))
    active = reads.weights_bytes / BF16 + embedding_params(name)
    assert active == pytest.approx(PUBLISHED_ACTIVE[name], abs=0.06e9)
    assert reads.weights_bytes < 0.3 * PUBLISHED_PARAMS[name] * BF16  # was: every expert


def test_kv_uses_the_stated_head_width(tmp_path: Path) -> None:
    """Qwen3-0.6B: 28 layers, 8 KV heads of 128 (config `head_dim`; not 1024 / 16 = 64)."""
    reads = checkpoint_decode_reads(write_checkpoint(tmp_path, "qwen3-0.6b"))
    assert reads.kv_bytes_per_token == 28 * 8 * (128 + 128) * 2
    assert (reads.window_kv_bytes_per_token, reads.sliding_window) == (0, None)


def test_kv_head_width_from_the_hidden_size_where_the_config_has_none(tmp_path: Path) -> None:
    """Llama 3.1 8B (Llama 3 report, Table 3): 32 layers, dimension 4096 over 32 heads,
    8 KV heads: 128 KiB per token in 16 bits, 64 KiB with vLLM's fp8 KV cache."""
    directory = write_checkpoint(tmp_path, "llama-3.1-8b-instruct")
    assert checkpoint_decode_reads(directory).kv_bytes_per_token == 128 * 1024
    assert checkpoint_decode_reads(directory, kv_cache_dtype="fp8").kv_bytes_per_token == 64 * 1024


def test_gemma3_sliding_layers_read_at_most_their_window(tmp_path: Path) -> None:
    """Gemma 3 1B: 26 layers, 5 local to 1 global from a local first layer (4 global, 22
    local), a 512-token window, 1 KV head of 256."""
    reads = checkpoint_decode_reads(write_checkpoint(tmp_path, "gemma-3-1b-it"))
    per_layer = 1 * (256 + 256) * 2
    assert (reads.kv_bytes_per_token, reads.window_kv_bytes_per_token) == (
        4 * per_layer,
        22 * per_layer,
    )
    assert reads.sliding_window == 512
    assert reads.kv_bytes(4096) == per_layer * (4 * 4096 + 22 * 512)


def test_layer_types_name_the_sliding_layers() -> None:
    """gpt-oss-20b: 24 layers alternating 128-token windows and full attention."""
    cfg = config("gpt-oss-20b")
    assert sliding_layers(cfg, cfg["num_hidden_layers"]) == (12, 128)
    assert kv_widths(cfg) == (8, 64, 64)


def test_gemma_configs_without_a_pattern_use_transformers_default() -> None:
    """Gemma 2 2B names a 4096-token window but no pattern: local and global attention
    alternate (Gemma 2 report), 13 of its 26 layers slide. A Gemma 3 config without its
    pattern gets transformers' default of 6, the published 5:1."""
    cfg = config("gemma-2-2b-it")
    assert sliding_layers(cfg, cfg["num_hidden_layers"]) == (13, 4096)
    gemma3 = {k: v for k, v in config("gemma-3-1b-it").items() if k != "sliding_window_pattern"}
    assert sliding_layers(gemma3, 26) == (22, 512)


def test_switched_off_or_absent_windows_slide_nothing() -> None:
    """Qwen3 sets `sliding_window: null`; Llama names none."""
    for name in ("qwen3-30b-a3b", "llama-3.1-8b-instruct"):
        cfg = config(name)
        assert sliding_layers(cfg, cfg["num_hidden_layers"]) == (0, None)
    switched_off = {**config("qwen3-0.6b"), "sliding_window": 32768, "use_sliding_window": False}
    assert sliding_layers(switched_off, 28) == (0, None)  # Qwen2.5's way of saying none


def test_latent_attention_caches_one_latent_per_layer() -> None:
    """DeepSeek-V2-Lite: 512 + 64 values per layer, 2.25 GQA groups of its 128-wide heads."""
    cfg = config("deepseek-v2-lite")
    n_kv, width_k, width_v = kv_widths(cfg)
    assert n_kv * (width_k + width_v) == 2 * 2.25 * cfg["qk_nope_head_dim"] == 576


def test_vllm_dtype_sets_the_weight_width(tmp_path: Path) -> None:
    """`--dtype float32` reads 4 bytes per weight and per cached value, `auto` 2."""
    directory = write_checkpoint(tmp_path, "qwen3-0.6b")
    wide = checkpoint_decode_reads(directory, dtype="float32")
    assert wide.weights_bytes == PUBLISHED_PARAMS["qwen3-0.6b"] * 4
    assert wide.kv_bytes_per_token == 28 * 8 * (128 + 128) * 4


def test_a_repo_id_is_found_in_the_hub_cache(tmp_path: Path) -> None:
    """vLLM is given `Qwen/Qwen3-0.6B`; its files are in the hub cache's snapshot."""
    commit = "c1899de289a04d12100db370d81485cdf75e47ca"
    repo = tmp_path / "models--Qwen--Qwen3-0.6B"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    snapshot = write_checkpoint(repo / "snapshots" / commit, "qwen3-0.6b")
    assert checkpoint_dir("Qwen/Qwen3-0.6B", cache_dir=tmp_path) == snapshot
    assert checkpoint_dir("Qwen/Qwen3-8B", cache_dir=tmp_path) is None
    assert checkpoint_dir("not a/repo id", cache_dir=tmp_path) is None
    assert checkpoint_dir(str(snapshot)) == snapshot


def test_an_unreadable_layout_says_what_is_missing(tmp_path: Path) -> None:
    directory = write_checkpoint(tmp_path / "a", "qwen3-0.6b")
    (directory / "model.safetensors").unlink()
    with pytest.raises(InvalidModelFileError, match="safetensors"):
        checkpoint_decode_reads(directory)
    directory = write_checkpoint(tmp_path / "b", "qwen3-0.6b")
    (directory / "config.json").write_text('{"hidden_size": 1024}')
    with pytest.raises(InvalidModelFileError, match="num_hidden_layers"):
        checkpoint_decode_reads(directory)


def test_a_multimodal_checkpoint_is_read_from_its_text_config() -> None:
    """Gemma 3 12B's config.json gives only what differs from Gemma3TextConfig under
    `text_config` (no head_dim, no pattern). With transformers' defaults filled in, it
    says what Google's reference config says (the catalog entry's facts, from
    gemma/gm/nn/_gemma.py): 48 layers, 8 KV heads of 256, a 1024-token window on 5 of
    every 6 layers."""
    facts = load_catalog().get("gemma-3-12b-it").architecture
    cfg = language_config(config("gemma-3-12b-it"))
    assert cfg["num_hidden_layers"] == facts.n_layers == 48
    assert kv_widths(cfg) == (facts.n_kv_heads, facts.head_dim, facts.head_dim)
    window = facts.sliding_window
    assert window is not None
    assert sliding_layers(cfg, 48) == (48 - 48 // window.pattern, window.window)


def test_the_vision_tower_is_not_read_per_token(tmp_path: Path) -> None:
    """Tensor names as Gemma3ForConditionalGeneration stores them; shapes small."""
    tensors = [
        ("language_model.model.embed_tokens.weight", (64, 32)),
        ("language_model.model.layers.0.mlp.down_proj.weight", (32, 128)),
        ("vision_tower.vision_model.encoder.layers.0.mlp.fc1.weight", (64, 64)),
        ("multi_modal_projector.mm_input_projection_weight", (64, 32)),
    ]
    (tmp_path / "config.json").write_text(json.dumps(config("gemma-3-12b-it")))
    write_header(tmp_path / "model.safetensors", tensors)
    reads = checkpoint_decode_reads(tmp_path)
    assert reads.weights_bytes == (64 * 32 + 32 * 128) * BF16, "tied embedding + the layer"
