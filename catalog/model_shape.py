"""What the memory estimate needs to know about a model, from a GGUF header (exact) or
from catalog facts and a quant's nominal bits per weight (before any download)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from catalog.entry import CatalogEntry
from catalog.errors import CatalogError, InvalidModelFileError
from catalog.gguf_info import GgufInfo
from catalog.quant_types import nominal_bpw

SWA_PATTERN_BY_ARCH = {"gemma3": 6, "gpt-oss": 2}
"""llama.cpp's default sliding-window pattern where a GGUF does not store one
(src/models/gemma3.cpp `load_swa_pattern(ml, 6)`, openai-moe.cpp `load_swa_pattern(ml, 2)`,
llama.cpp as vendored in llama-cpp-python 0.3.36)."""


@dataclass(frozen=True)
class ModelShape:
    """Sizes of one model file's parts and the dimensions behind its caches."""

    name: str
    n_layers: int
    n_embd: int
    n_heads: int
    n_kv_heads: int
    head_dim_k: int
    head_dim_v: int
    n_vocab: int
    n_ff: int
    layer_bytes: tuple[int, ...]
    """Weights of each repeating layer, the unit `n_gpu_layers` moves."""
    input_bytes: int
    """Token embedding: llama.cpp keeps it in host memory even with every layer offloaded."""
    output_bytes: int
    """Output head (a copy of the embedding when tied), offloaded as the last 'layer'."""
    other_bytes: int
    """Norms and small tensors outside the layers (host side)."""
    file_bytes: int
    """What mapping the file costs in RAM when nothing is offloaded (header included)."""
    ctx_train: int | None = None
    sliding_window: int | None = None
    n_swa_layers: int = 0
    n_tokens: int = 0
    n_merges: int = 0
    exact: bool = True
    source: str = ""

    @property
    def mean_layer_bytes(self) -> float:
        return sum(self.layer_bytes) / max(1, len(self.layer_bytes))


def count_swa_layers(n_layers: int, pattern: int | None) -> int:
    """Layer il slides iff il % pattern < pattern - 1 (the last of each group is global)."""
    if not pattern or pattern < 2:
        return 0
    return sum(1 for il in range(n_layers) if il % pattern < pattern - 1)


def _required(value: int | None, what: str, name: str) -> int:
    if not value:
        raise InvalidModelFileError(
            f"{name}: the GGUF header does not give {what}; cannot estimate memory"
        )
    return value


def shape_from_gguf(info: GgufInfo, name: str, file_bytes: int | None = None) -> ModelShape:
    """Exact weights from the header's tensor table; dimensions from its metadata."""
    n_layers = _required(info.n_layers, "block_count", name)
    n_heads = _required(info.n_heads, "attention.head_count", name)
    layers = info.layer_bytes()
    input_bytes = info.tensor_bytes("token_embd.weight") or 0
    output = info.tensor_bytes("output.weight")
    per_layer = sum(layers.values())
    other = info.weights_bytes - per_layer - input_bytes - (output or 0)
    pattern = info.sliding_window_pattern or SWA_PATTERN_BY_ARCH.get(info.architecture or "")
    window = info.sliding_window
    return ModelShape(
        name=name,
        n_layers=n_layers,
        n_embd=_required(info.embedding_length, "embedding_length", name),
        n_heads=n_heads,
        n_kv_heads=info.n_kv_heads or n_heads,
        head_dim_k=_required(info.head_dim_k, "the key width", name),
        head_dim_v=_required(info.head_dim_v, "the value width", name),
        n_vocab=info.vocab_size or 0,
        n_ff=_ff_width(info),
        layer_bytes=tuple(layers.get(i, 0) for i in range(n_layers)),
        input_bytes=input_bytes,
        output_bytes=output if output is not None else input_bytes,
        other_bytes=max(0, other),
        file_bytes=file_bytes or (info.weights_bytes + (info.header_bytes or 0)),
        ctx_train=info.context_length,
        sliding_window=window,
        n_swa_layers=count_swa_layers(n_layers, pattern) if window else 0,
        n_tokens=info.n_tokens or 0,
        n_merges=info.n_merges or 0,
        exact=True,
        source=f"GGUF header ({info.quant or 'unknown type'})",
    )


def _ff_width(info: GgufInfo) -> int:
    """Activation width of the feed-forward part; for MoE the experts that run per token."""
    width = info.feed_forward_length or 4 * (info.embedding_length or 0)
    if info.expert_used_count:
        return width * info.expert_used_count
    return width


def shape_from_catalog(entry: CatalogEntry, quant: str) -> ModelShape:
    """An approximation before download: parameters x the quant's nominal bits per weight.

    Every expert of a mixture-of-experts model counts: all of them sit in memory."""
    arch = entry.architecture
    bpw = nominal_bpw(quant)
    if arch is None or entry.params_total_b is None or bpw is None:
        raise CatalogError(
            f"{entry.id}:{quant}: the catalog lacks the facts to estimate memory "
            "(architecture, parameter count or a known quant type)"
        )
    embed = arch.vocab_size * arch.hidden_size
    untied = embed if arch.tie_word_embeddings is False else 0
    layer_params = max(0.0, entry.params_total_b * 1e9 - embed - untied) / arch.n_layers
    to_bytes = bpw / 8
    window = arch.sliding_window
    return ModelShape(
        name=f"{entry.id}:{quant}",
        n_layers=arch.n_layers,
        n_embd=arch.hidden_size,
        n_heads=arch.n_heads,
        n_kv_heads=arch.n_kv_heads,
        head_dim_k=arch.head_dim,
        head_dim_v=arch.head_dim,
        n_vocab=arch.vocab_size,
        n_ff=_catalog_ff(entry),
        layer_bytes=(math.ceil(layer_params * to_bytes),) * arch.n_layers,
        input_bytes=math.ceil(embed * to_bytes),
        output_bytes=math.ceil(embed * to_bytes),
        other_bytes=0,
        file_bytes=math.ceil(entry.params_total_b * 1e9 * to_bytes),
        ctx_train=entry.max_context,
        sliding_window=window.window if window else None,
        n_swa_layers=count_swa_layers(arch.n_layers, window.pattern) if window else 0,
        n_tokens=arch.vocab_size,
        n_merges=arch.vocab_size,
        exact=False,
        source=f"catalog facts x {bpw} bits per weight ({quant}, nominal)",
    )


def _catalog_ff(entry: CatalogEntry) -> int:
    arch = entry.architecture
    assert arch is not None
    if arch.moe is not None and arch.moe.expert_intermediate_size:
        return arch.moe.expert_intermediate_size * arch.moe.experts_per_token
    return arch.intermediate_size or 4 * arch.hidden_size
