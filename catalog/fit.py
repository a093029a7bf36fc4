"""How much memory a llama.cpp engine needs for a model: weights, KV cache, compute
buffers and the runtime's own structures. Pure arithmetic on a ModelShape.

The terms follow what llama.cpp allocates (as vendored in llama-cpp-python 0.3.36):

- KV cache: `n_layers x cells x n_kv_heads x (head_dim_k x bytes_k + head_dim_v x bytes_v)`,
  quantized types at their exact ggml block sizes; cells are the context padded to 256
  (`llama-context.cpp`); sliding-window layers keep only `window + n_ubatch` cells per
  sequence (`llama-kv-cache-iswa.cpp`).
- Compute buffer on a GPU: the whole worst-case reservation (logits of a full micro-batch,
  or the attention scores), because device memory is allocated up front.
- Compute on the CPU: only what a batch touches becomes resident; the logits of all
  `n_ubatch` outputs that llama.cpp reserves are never written when only the last token's
  logits are needed, so they are not counted. Without flash attention the attention scores
  (f32) and their f16 copy for the V product are; with it only the mask is.
- The runtime's own structures (vocabulary, merges, graph metadata) in host memory.

The constants marked "calibrated" were fitted on the default model (SmolLM2-135M Q4_1)
with llama-cpp-python 0.3.36 on a CPU, and checked by `python -m catalog.fit_accuracy`
(docs/benchmarks.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from bench.limits import kv_bytes_per_token
from catalog.model_shape import ModelShape
from catalog.quant_types import ggml_value_bytes

MiB = 1 << 20
KV_PAD = 256
BYTES_PER_TOKEN = 200
"""Calibrated: vocabulary entry (strings, maps) in llama.cpp's tokenizer structures."""
BYTES_PER_MERGE = 150
"""Calibrated: one BPE merge rule (a std::map node holding two strings)."""
RUNTIME_BASE_BYTES = 4 * MiB
"""Calibrated: graph metadata, contexts, threads."""

KV_TYPES = ("f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "iq4_nl", "q5_0", "q5_1")


LLAMA_CPP_UBATCH = 512
"""llama.cpp's default micro-batch (`--ubatch-size`)."""


@dataclass(frozen=True)
class FitOptions:
    """The engine options that change memory use, with llama.cpp's defaults."""

    n_ctx: int = 4096
    """Tokens of context per sequence (per `--parallel` slot)."""
    n_parallel: int = 1
    type_k: str = "f16"
    type_v: str = "f16"
    flash_attn: bool = False
    n_ubatch: int = LLAMA_CPP_UBATCH
    split_mode: str = "layer"
    """How offloaded layers spread over several GPUs: layer, row, tensor or none."""
    tensor_split: tuple[float, ...] | None = None
    """Proportions per visible GPU (`--tensor-split`); None: by free memory."""
    main_gpu: int = 0
    """The GPU that takes everything with split_mode none (an index among visible GPUs)."""

    @property
    def total_cells(self) -> int:
        return pad(self.n_ctx) * self.n_parallel

    @property
    def ubatch(self) -> int:
        return max(1, min(self.n_ubatch, self.total_cells))


def pad(n: int, to: int = KV_PAD) -> int:
    return math.ceil(n / to) * to


def kv_bytes_per_cell(shape: ModelShape, options: FitOptions) -> int:
    """One token's K and V in one layer, at the cache types' exact block sizes."""
    return kv_bytes_per_token(
        1,
        shape.n_kv_heads,
        shape.head_dim_k,
        ggml_value_bytes(options.type_k),
        head_dim_v=shape.head_dim_v,
        bytes_per_value_v=ggml_value_bytes(options.type_v),
    )


def swa_cells(shape: ModelShape, options: FitOptions) -> int:
    """Cells a sliding-window layer keeps: per sequence, the window plus one micro-batch."""
    assert shape.sliding_window is not None
    per_seq = min(pad(options.n_ctx), pad(shape.sliding_window + options.ubatch))
    return per_seq * options.n_parallel


def layer_kv_bytes(shape: ModelShape, options: FitOptions) -> tuple[int, ...]:
    """KV bytes of each layer, in layer order (sliding-window layers first in each group)."""
    full = options.total_cells * kv_bytes_per_cell(shape, options)
    if not shape.n_swa_layers or shape.sliding_window is None:
        return (full,) * shape.n_layers
    small = swa_cells(shape, options) * kv_bytes_per_cell(shape, options)
    ratio = shape.n_swa_layers / shape.n_layers
    return tuple(small if _is_swa(il, ratio) else full for il in range(shape.n_layers))


def _is_swa(il: int, ratio: float) -> bool:
    """Spread `ratio` of the layers evenly; the exact order only matters for offloading."""
    return math.floor((il + 1) * ratio) > math.floor(il * ratio)


def kv_bytes(shape: ModelShape, options: FitOptions) -> int:
    return sum(layer_kv_bytes(shape, options))


def attention_bytes(shape: ModelShape, options: FitOptions, resident: bool) -> int:
    """The attention working set of one micro-batch against a full sequence."""
    n_kv, ub = pad(options.n_ctx), options.ubatch
    if options.flash_attn:
        return n_kv * ub * (6 if resident else 2)  # mask f32 and its f16 copy
    scores = shape.n_heads * n_kv * ub * 4
    copy = shape.n_heads * n_kv * ub * 2 if resident else 0  # f16 copy for the V product
    return scores + copy + n_kv * ub * 4


def activation_bytes(shape: ModelShape, options: FitOptions) -> int:
    """Feed-forward and residual activations of one micro-batch (f32)."""
    return (2 * shape.n_ff + 4 * shape.n_embd) * options.ubatch * 4


def compute_bytes_gpu(shape: ModelShape, options: FitOptions) -> int:
    """The reservation a GPU backend allocates whole: worst of logits and attention."""
    logits = shape.n_vocab * options.ubatch * 4
    worst = max(logits, attention_bytes(shape, options, resident=False))
    return worst + activation_bytes(shape, options)


def compute_bytes_cpu(shape: ModelShape, options: FitOptions) -> int:
    """What a CPU batch actually touches (see the module docstring)."""
    return attention_bytes(shape, options, resident=True) + activation_bytes(shape, options)


def output_buffer_bytes(shape: ModelShape, options: FitOptions) -> int:
    """Logits kept for each sequence's last token."""
    return shape.n_vocab * 4 * options.n_parallel


def runtime_bytes(shape: ModelShape) -> int:
    return RUNTIME_BASE_BYTES + BYTES_PER_TOKEN * shape.n_tokens + BYTES_PER_MERGE * shape.n_merges


@dataclass(frozen=True)
class MemoryEstimate:
    """Everything on the CPU (no offload): the figure `fit_accuracy` compares with RSS."""

    weights_bytes: int
    kv_bytes: int
    compute_bytes: int
    output_bytes: int
    runtime_bytes: int

    @property
    def total_bytes(self) -> int:
        return (
            self.weights_bytes
            + self.kv_bytes
            + self.compute_bytes
            + self.output_bytes
            + self.runtime_bytes
        )

    def as_dict(self) -> dict[str, int]:
        return {
            "weights_bytes": self.weights_bytes,
            "kv_bytes": self.kv_bytes,
            "compute_bytes": self.compute_bytes,
            "output_bytes": self.output_bytes,
            "runtime_bytes": self.runtime_bytes,
            "total_bytes": self.total_bytes,
        }


def estimate_cpu(shape: ModelShape, options: FitOptions) -> MemoryEstimate:
    return MemoryEstimate(
        weights_bytes=shape.file_bytes,
        kv_bytes=kv_bytes(shape, options),
        compute_bytes=compute_bytes_cpu(shape, options),
        output_bytes=output_buffer_bytes(shape, options),
        runtime_bytes=runtime_bytes(shape),
    )
