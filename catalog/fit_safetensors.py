"""What one decode step reads from memory for a Hugging Face checkpoint (a directory with
config.json and *.safetensors, the format vLLM serves): the same `DecodeReads` that
catalog.fit_decode gives for a GGUF header, so vLLM runs get a decode bound too.

Only headers are read: the safetensors JSON headers (through huggingface_hub's local
parser, a dependency already) give every tensor's name, type and byte range; config.json
gives the attention layout. The rules are fit_decode's, in Hugging Face's naming:

- Weights: every tensor once, except that a mixture-of-experts layer runs only
  `num_experts_per_tok` of its `num_experts` (`num_local_experts`, `n_routed_experts`)
  experts per token, so tensors under `.experts.` count in that proportion (shared experts,
  `shared_expert(s).`, always run); and the token embedding is one row per token, not the
  whole matrix, unless it doubles as the output head (no `lm_head.weight`: tied).
  vLLM runs an unquantized checkpoint in its `dtype` (`auto`: 16-bit, float32 checkpoints
  included), so floating-point tensors count at that width; a quantized checkpoint
  (`quantization_config`) counts as stored.
- KV cache per token: `num_key_value_heads x head_dim x (K + V)` per layer, with `head_dim`
  from the config where it says (Qwen3, Gemma 3) else `hidden_size / num_attention_heads`;
  multi-head latent attention (DeepSeek V2/V3, `kv_lora_rank`) caches one latent of
  `kv_lora_rank + qk_rope_head_dim` values per layer. Each value takes the KV cache
  dtype's width (`auto`: the model's).
- Sliding-window layers (`layer_types`, else `sliding_window_pattern`, else every layer
  when a `sliding_window` is set and not switched off by `use_sliding_window: false`) read
  at most `sliding_window` tokens of their cache.
- A multimodal checkpoint (Gemma 3 4B and up) keeps the language model's settings under
  `text_config`, and only those that differ from its config class's defaults; those
  defaults fill the rest. Its vision tower and projector run once per image, not per
  token, so their tensors are not read by a decode step.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from bench.limits import kv_bytes_per_token
from catalog.errors import InvalidModelFileError
from catalog.fit_decode import DecodeReads
from catalog.model_shape import count_swa_layers
from catalog.sources.hf import hf_cache_dir

CONFIG_FILE = "config.json"
EXPERT_TENSOR = re.compile(r"(?:^|\.)experts\.")
EMBEDDING_TENSOR = re.compile(r"(?:^|\.)(?:embed_tokens|wte|word_embeddings)\.weight$")
OUTPUT_HEAD = re.compile(r"(?:^|\.)lm_head\.weight$")
FLOAT_TYPES = frozenset({"F32", "F16", "BF16"})
DTYPE_BYTES = {"half": 2, "float16": 2, "bfloat16": 2, "float": 4, "float32": 4}
"""vLLM's `--dtype` choices; `auto` runs float32 checkpoints in 16 bits too."""
FP8_KV = frozenset({"fp8", "fp8_e4m3", "fp8_e5m2"})
EXPERT_COUNT_KEYS = ("num_experts", "num_local_experts", "n_routed_experts")
EXPERTS_USED_KEYS = ("num_experts_per_tok", "experts_per_token")
VISION_TENSOR = re.compile(
    r"(?:^|\.)(?:vision_tower|vision_model|visual|multi_modal_projector|audio_tower)\."
)
TEXT_DEFAULTS_BY_MODEL_TYPE: Mapping[str, Mapping[str, Any]] = {
    "gemma3_text": {
        "num_hidden_layers": 26,
        "hidden_size": 2304,
        "num_attention_heads": 8,
        "num_key_value_heads": 4,
        "head_dim": 256,
        "sliding_window": 4096,
        "sliding_window_pattern": 6,
    },
}
"""What a sparse config.json leaves to its config class: Gemma3TextConfig's defaults in
transformers (src/transformers/models/gemma3/configuration_gemma3.py at 008f5c8c)."""
SWA_PATTERN_BY_MODEL_TYPE = {"gemma2": 2, "gemma3_text": 6}
"""Where a config names a window but neither `layer_types` nor a pattern: transformers'
Gemma 2 slides every other layer (`is_sliding = not bool(layer_idx % 2)`), Gemma3TextConfig
defaults `sliding_window_pattern` to 6."""


@dataclass(frozen=True)
class CheckpointTensor:
    name: str
    dtype: str
    n_values: int
    n_bytes: int
    """As stored (the tensor's byte range in its file)."""


@dataclass(frozen=True)
class Checkpoint:
    """A Hugging Face model directory, headers only."""

    directory: Path
    config: Mapping[str, Any]
    tensors: tuple[CheckpointTensor, ...]


def checkpoint_dir(reference: str, cache_dir: Path | None = None) -> Path | None:
    """The checkpoint directory `reference` names: the path itself, or for a Hugging Face
    repo id (what vLLM is given for a catalog model) its snapshot in the hub cache, where
    vLLM downloaded it. None when neither is there."""
    path = Path(reference).expanduser()
    if path.is_dir():
        return path
    if reference.count("/") != 1 or path.exists():
        return None
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(
            reference, CONFIG_FILE, cache_dir=cache_dir or hf_cache_dir()
        )
    except ValueError:  # not a valid repo id
        return None
    return Path(found).parent if isinstance(found, str) else None


def read_checkpoint(directory: Path) -> Checkpoint:
    """config.json and every safetensors header (sharded through the index, or one
    model.safetensors); raises InvalidModelFileError naming what is missing."""
    from huggingface_hub import get_local_safetensors_metadata
    from huggingface_hub.errors import NotASafetensorsRepoError, SafetensorsParsingError

    config = _read_config(directory)
    try:
        metadata = get_local_safetensors_metadata(directory)
    except (OSError, ValueError, NotASafetensorsRepoError, SafetensorsParsingError) as exc:
        raise InvalidModelFileError(f"{directory}: safetensors headers unreadable: {exc}") from exc
    tensors = tuple(
        CheckpointTensor(name, info.dtype, info.parameter_count, _stored_bytes(info.data_offsets))
        for file in metadata.files_metadata.values()
        for name, info in file.tensors.items()
    )
    return Checkpoint(directory, config, tensors)


def _read_config(directory: Path) -> dict[str, Any]:
    try:
        config = json.loads((directory / CONFIG_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidModelFileError(f"{directory}: {CONFIG_FILE} unreadable: {exc}") from exc
    if not isinstance(config, dict):
        raise InvalidModelFileError(f"{directory}: {CONFIG_FILE} is not a JSON object")
    return language_config(config)


def language_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """The language model's settings: a multimodal checkpoint's `text_config` over its top
    level, and its config class's defaults under both."""
    text = config.get("text_config")
    merged = {**config, **text} if isinstance(text, dict) else dict(config)
    defaults = TEXT_DEFAULTS_BY_MODEL_TYPE.get(str(merged.get("model_type")), {})
    return {**defaults, **merged}


def _stored_bytes(offsets: tuple[int, int]) -> int:
    begin, end = offsets
    return end - begin


def expert_share(config: Mapping[str, Any]) -> float:
    """The share of each expert tensor one token reads (1.0 for a dense model)."""
    count = _first(config, EXPERT_COUNT_KEYS)
    used = _first(config, EXPERTS_USED_KEYS)
    return used / count if count and used else 1.0


def _first(config: Mapping[str, Any], keys: tuple[str, ...]) -> int | None:
    return next((config[k] for k in keys if isinstance(config.get(k), int)), None)


def decode_weights_bytes(checkpoint: Checkpoint, float_bytes: int = 2) -> int:
    """The weights one decode step reads (see the module docstring)."""
    share = expert_share(checkpoint.config)
    tied = not any(OUTPUT_HEAD.search(t.name) for t in checkpoint.tensors)
    quantized = "quantization_config" in checkpoint.config
    total = 0.0
    for tensor in checkpoint.tensors:
        if VISION_TENSOR.search(tensor.name):
            continue
        if not tied and EMBEDDING_TENSOR.search(tensor.name):
            continue
        size = tensor.n_bytes
        if not quantized and tensor.dtype in FLOAT_TYPES:
            size = tensor.n_values * float_bytes
        total += size * (share if EXPERT_TENSOR.search(tensor.name) else 1.0)
    return round(total)


def kv_widths(config: Mapping[str, Any], where: Path | str = "") -> tuple[int, int, int]:
    """(KV heads, K width, V width) of one layer's cache entry for one token."""
    if isinstance(config.get("kv_lora_rank"), int):
        return 1, config["kv_lora_rank"] + int(config.get("qk_rope_head_dim") or 0), 0
    heads = _required(config, "num_attention_heads", where)
    head_dim = config.get("head_dim") or _required(config, "hidden_size", where) // heads
    return int(config.get("num_key_value_heads") or heads), int(head_dim), int(head_dim)


def _required(config: Mapping[str, Any], key: str, where: Path | str) -> int:
    value = config.get(key)
    if not isinstance(value, int) or value <= 0:
        raise InvalidModelFileError(f"{where}: {CONFIG_FILE} does not give {key}")
    return value


def sliding_layers(config: Mapping[str, Any], n_layers: int) -> tuple[int, int | None]:
    """(layers that slide, their window); (0, None) without a window."""
    window = config.get("sliding_window")
    if not isinstance(window, int) or window <= 0:
        return 0, None
    types = config.get("layer_types")
    if isinstance(types, list):
        n_swa = sum(1 for kind in types[:n_layers] if kind == "sliding_attention")
    elif config.get("use_sliding_window") is False:
        n_swa = 0
    else:
        n_swa = _pattern_layers(config, n_layers)
    return n_swa, window if n_swa else None


def _pattern_layers(config: Mapping[str, Any], n_layers: int) -> int:
    """A Gemma pattern (the last layer of each group is global), else every layer."""
    pattern = config.get("sliding_window_pattern") or config.get("_sliding_window_pattern")
    pattern = pattern or SWA_PATTERN_BY_MODEL_TYPE.get(str(config.get("model_type")))
    return count_swa_layers(n_layers, pattern) if pattern else n_layers


def value_bytes(kv_cache_dtype: str, float_bytes: int) -> float:
    """Bytes per cached value: vLLM's `kv_cache_dtype` (`auto`: the model's dtype)."""
    return 1.0 if kv_cache_dtype in FP8_KV else float(float_bytes)


def checkpoint_decode_reads(
    directory: Path, dtype: str = "auto", kv_cache_dtype: str = "auto"
) -> DecodeReads:
    """What one decode step of this checkpoint reads, under vLLM's `dtype` and
    `kv_cache_dtype` options; raises InvalidModelFileError where the layout is unreadable."""
    checkpoint = read_checkpoint(directory)
    config = checkpoint.config
    float_bytes = DTYPE_BYTES.get(dtype, 2)
    n_layers = _required(config, "num_hidden_layers", directory)
    n_kv, width_k, width_v = kv_widths(config, directory)
    n_swa, window = sliding_layers(config, n_layers)
    per_token = partial(
        kv_bytes_per_token,
        n_kv_heads=n_kv,
        head_dim=width_k,
        bytes_per_value=value_bytes(kv_cache_dtype, float_bytes),
        head_dim_v=width_v,
    )
    return DecodeReads(
        weights_bytes=decode_weights_bytes(checkpoint, float_bytes),
        kv_bytes_per_token=per_token(n_layers - n_swa),
        window_kv_bytes_per_token=per_token(n_swa),
        sliding_window=window,
    )
