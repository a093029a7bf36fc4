"""The decode bound's inputs from a GGUF header: active experts only, the stated head
widths, sliding windows. The tensor tables are built from published architectures (the
catalog entries, each with its sources in catalog/entries/*.toml) at BF16, 2 bytes each;
no such file is downloaded here."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.limits import Bandwidth, LimitInputs
from catalog import load_catalog
from catalog.entry import CatalogEntry
from catalog.fit_decode import decode_reads, decode_weights_bytes
from catalog.gguf_info import GgufInfo, TensorInfo, read_gguf_info
from tests.gguf_files import TinyModel, write_tiny_gguf

BF16 = 2


def _t(name: str, *shape: int) -> TensorInfo:
    n = 1
    for dim in shape:
        n *= dim
    return TensorInfo(name, "BF16", n, n * BF16)


def header(entry: CatalogEntry) -> GgufInfo:
    """The tensors llama.cpp's converter writes for this architecture (llama/qwen3/qwen3moe/
    gemma3 naming), with the entry's published dimensions."""
    a = entry.architecture
    assert a is not None
    q, kv = a.n_heads * a.head_dim, a.n_kv_heads * a.head_dim
    tensors = [
        _t("token_embd.weight", a.vocab_size, a.hidden_size),
        _t("output_norm.weight", a.hidden_size),
    ]
    if a.tie_word_embeddings is False:
        tensors.append(_t("output.weight", a.vocab_size, a.hidden_size))
    for il in range(a.n_layers):
        b = f"blk.{il}."
        tensors += [
            _t(b + "attn_q.weight", a.hidden_size, q), _t(b + "attn_k.weight", a.hidden_size, kv),
            _t(b + "attn_v.weight", a.hidden_size, kv),
            _t(b + "attn_output.weight", q, a.hidden_size),
            _t(b + "attn_norm.weight", a.hidden_size), _t(b + "ffn_norm.weight", a.hidden_size),
            _t(b + "attn_q_norm.weight", a.head_dim), _t(b + "attn_k_norm.weight", a.head_dim),
        ]  # fmt: skip
        if a.moe is not None:
            ff, n = a.moe.expert_intermediate_size or 0, a.moe.n_experts
            tensors.append(_t(b + "ffn_gate_inp.weight", a.hidden_size, n))
            tensors += [
                _t(b + f"ffn_{p}_exps.weight", n, a.hidden_size, ff) for p in ("gate", "up", "down")
            ]
        else:
            ff = a.intermediate_size or 4 * a.hidden_size
            tensors += [
                _t(b + f"ffn_{p}.weight", a.hidden_size, ff) for p in ("gate", "up", "down")
            ]
    window = a.sliding_window
    return GgufInfo(
        architecture="qwen3moe" if a.moe else a.arch, quant="BF16", name=entry.id,
        context_length=entry.max_context, n_layers=a.n_layers, embedding_length=a.hidden_size,
        n_heads=a.n_heads, n_kv_heads=a.n_kv_heads, vocab_size=a.vocab_size, eos_token_id=None,
        has_chat_template=True, key_length=a.head_dim, value_length=a.head_dim,
        sliding_window=window.window if window else None,
        sliding_window_pattern=window.pattern if window else None,
        expert_count=a.moe.n_experts if a.moe else None,
        expert_used_count=a.moe.experts_per_token if a.moe else None, tensors=tuple(tensors),
    )  # fmt: skip


def test_moe_reads_only_the_active_experts() -> None:
    """Qwen3-30B-A3B: 30.5B parameters, 3.35B active (catalog entry, Qwen3 report); a decode
    step reads the active ones less the token embedding (one row of it)."""
    entry = load_catalog().get("qwen3-30b-a3b")
    info = header(entry)
    assert info.weights_bytes / BF16 / 1e9 == pytest.approx(entry.params_total_b, rel=0.002)
    embedding = entry.architecture.vocab_size * entry.architecture.hidden_size
    read = decode_weights_bytes(info) / BF16
    assert read == pytest.approx(entry.params_active_b * 1e9 - embedding, rel=0.002)
    assert read < 0.11 * info.weights_bytes / BF16  # was: the whole file


def test_kv_uses_the_stated_head_width() -> None:
    """Qwen3's heads are 128 wide with a 2048 embedding and 32 heads (not 2048/32 = 64):
    48 layers x 4 KV heads x (128 + 128) x 2 bytes per token."""
    reads = decode_reads(header(load_catalog().get("qwen3-30b-a3b")))
    assert reads is not None
    assert reads.kv_bytes_per_token == 48 * 4 * 256 * 2
    assert reads.sliding_window is None and reads.window_kv_bytes_per_token == 0


def test_sliding_window_layers_cap_their_kv() -> None:
    """Gemma 3 12B: 48 layers, 5 local (1024-token window) to 1 global, 8 KV heads of 256."""
    reads = decode_reads(header(load_catalog().get("gemma-3-12b-it")))
    assert reads is not None
    per_layer = 8 * 256 * 2 * 2
    assert (reads.kv_bytes_per_token, reads.window_kv_bytes_per_token) == (
        8 * per_layer,
        40 * per_layer,
    )
    assert reads.kv_bytes(512) == 48 * per_layer * 512
    assert reads.kv_bytes(32768) == per_layer * (8 * 32768 + 40 * 1024)
    inputs = LimitInputs(Bandwidth(1000.0, "t"), reads.weights_bytes, reads.kv_bytes_per_token,
                         None, reads.window_kv_bytes_per_token, reads.sliding_window)  # fmt: skip
    assert inputs.for_run(1, 32768).kv_bytes_per_stream == reads.kv_bytes(32768)


def test_tied_embeddings_are_read_as_the_output_head(tmp_path: Path) -> None:
    tied = read_gguf_info(write_tiny_gguf(tmp_path / "t.gguf", TinyModel(tied=True)))
    untied = read_gguf_info(write_tiny_gguf(tmp_path / "u.gguf", TinyModel(tied=False)))
    assert decode_weights_bytes(tied) == tied.weights_bytes
    embedding = untied.tensor_bytes("token_embd.weight")
    assert decode_weights_bytes(untied) == untied.weights_bytes - embedding


def test_bench_limit_inputs_come_from_the_header(tmp_path: Path) -> None:
    import hardware
    from control.api import EngineStatus
    from profiles import CostDefaults
    from workflows.bench_context import limit_inputs

    model = TinyModel(tied=False, sliding_window=64, sliding_window_pattern=2, arch="gemma3")
    path = write_tiny_gguf(tmp_path / "m.gguf", model)
    status = EngineStatus(
        name="m", engine="llama.cpp", model="m", model_path=str(path), state="ready",
        runtime="llama-server", options={"parallel": 2},
    )  # fmt: skip
    snapshot = hardware.discover(backends=[])
    inputs = limit_inputs(status, snapshot, CostDefaults(ram_bandwidth_gbps=10.0))
    assert inputs is not None
    info = read_gguf_info(path)
    assert inputs.weights_bytes == info.weights_bytes - info.tensor_bytes("token_embd.weight")
    per_layer = model.n_kv_heads * model.head_dim * 2 * 2
    assert inputs.kv_bytes_per_token == 2 * per_layer  # 4 layers, every second one global
    assert (inputs.window_kv_bytes_per_token, inputs.sliding_window) == (2 * per_layer, 64)
    assert inputs.max_batch == 2
