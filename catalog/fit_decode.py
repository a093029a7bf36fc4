"""What one decode step reads from memory, from a GGUF header: the bound on decode speed
(bench.limits) divides the memory bandwidth by it.

- Weights: every tensor once, except that a mixture-of-experts layer runs only
  `expert_used_count` of its `expert_count` experts per token, so its expert tensors
  (`blk.N.ffn_{gate,up,down,gate_up}_exps`) count in that proportion; and the token
  embedding is one row per token, not the whole matrix, unless it doubles as the output
  head (no `output.weight`: tied embeddings).
- KV cache per token of context: `n_kv_heads x (key_length x bytes_k + value_length x
  bytes_v)` per layer, with the head widths the GGUF states (Qwen3 and Gemma 3 heads are not
  `embedding / heads` wide).
- Sliding-window layers read at most `sliding_window` tokens of their cache, however long
  the context.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import partial

from bench.limits import kv_bytes_per_token, stream_kv_bytes
from catalog.gguf_info import GgufInfo
from catalog.model_shape import SWA_PATTERN_BY_ARCH, count_swa_layers

EXPERT_TENSOR = re.compile(r"^blk\.\d+\.ffn_(?:gate|up|down|gate_up)_exps\.")


@dataclass(frozen=True)
class DecodeReads:
    weights_bytes: int
    """Weights read once per decode step (shared by the streams decoded together)."""
    kv_bytes_per_token: int
    """Per token of context, over the layers that attend to all of it."""
    window_kv_bytes_per_token: int = 0
    """Per token of context, over the sliding-window layers (up to `sliding_window`)."""
    sliding_window: int | None = None

    def kv_bytes(self, context_tokens: float) -> int:
        """One stream's KV cache read per step at this context."""
        return stream_kv_bytes(
            self.kv_bytes_per_token,
            self.window_kv_bytes_per_token,
            self.sliding_window,
            context_tokens,
        )


def decode_weights_bytes(info: GgufInfo) -> int:
    """The weights one decode step reads (see the module docstring)."""
    used, count = info.expert_used_count, info.expert_count
    share = used / count if used and count else 1.0
    total = 0.0
    for tensor in info.tensors:
        if tensor.name == "token_embd.weight" and info.tensor_bytes("output.weight"):
            continue
        total += tensor.n_bytes * (share if EXPERT_TENSOR.match(tensor.name) else 1.0)
    return round(total)


def decode_reads(info: GgufInfo, bytes_k: float = 2.0, bytes_v: float = 2.0) -> DecodeReads | None:
    """None where the header lacks the dimensions (layers, heads, head widths)."""
    n_layers, n_kv = info.n_layers, info.n_kv_heads or info.n_heads
    if not (n_layers and n_kv and info.head_dim_k and info.head_dim_v):
        return None
    pattern = info.sliding_window_pattern or SWA_PATTERN_BY_ARCH.get(info.architecture or "")
    window = info.sliding_window
    n_swa = count_swa_layers(n_layers, pattern) if window else 0
    per_token = partial(
        kv_bytes_per_token,
        n_kv_heads=n_kv,
        head_dim=info.head_dim_k,
        bytes_per_value=bytes_k,
        head_dim_v=info.head_dim_v,
        bytes_per_value_v=bytes_v,
    )
    return DecodeReads(
        weights_bytes=decode_weights_bytes(info),
        kv_bytes_per_token=per_token(n_layers - n_swa),
        window_kv_bytes_per_token=per_token(n_swa),
        sliding_window=window if n_swa else None,
    )
