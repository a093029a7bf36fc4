"""The one KV-cache size formula (bench.limits) that the llama.cpp fit, the decode reads and
vLLM's memory estimate all use."""

from __future__ import annotations

from bench.limits import kv_bytes_per_token, stream_kv_bytes


def test_v_takes_k_width_and_type_unless_given() -> None:
    assert kv_bytes_per_token(2, 4, 128) == 2 * 4 * 128 * 2 * 2
    # Gemma-style wider V head, q8_0 K (34 bytes per block of 32) and f16 V
    mixed = kv_bytes_per_token(3, 2, 64, 34 / 32, head_dim_v=128, bytes_per_value_v=2.0)
    assert mixed == 3 * 2 * (64 * 34 // 32 + 128 * 2)


def test_fp8_cache_halves_f16() -> None:
    assert kv_bytes_per_token(28, 4, 128, 1) * 2 == kv_bytes_per_token(28, 4, 128)


def test_sliding_window_layers_read_at_most_the_window() -> None:
    assert stream_kv_bytes(100, 10, 512, 256) == 100 * 256 + 10 * 256
    assert stream_kv_bytes(100, 10, 512, 4096) == 100 * 4096 + 10 * 512
    assert stream_kv_bytes(100, 10, None, 4096) == 100 * 4096
    assert stream_kv_bytes(100, 10, 512, -5) == 0
