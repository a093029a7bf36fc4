"""Reading a GGUF file's header: architecture, quantization and the memory-math numbers.

Only the header is parsed (catalog.gguf_header), so the same code reads a local file and
the first megabytes of a remote one. The keys used here are checked for their type and
range, and the tensor table for fitting in the file: a malformed header is one
`InvalidModelFileError` (exit code 2), never a TypeError later in the memory math.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from catalog.errors import InvalidModelFileError
from catalog.gguf_header import BadHeader, GgufHeader, RawTensor, TruncatedHeader, read_header

GGUF_MAGIC = b"GGUF"
_LAYER = re.compile(r"^blk\.(\d+)\.")
MAX_LAYERS = 512
"""LLAMA_MAX_LAYERS (src/llama-hparams.h, llama.cpp as vendored in llama-cpp-python 0.3.36)."""
MAX_VALUE = (1 << 63) - 1


@dataclass(frozen=True)
class TensorInfo:
    """One tensor as the header describes it: enough to know what it costs in memory."""

    name: str
    ggml_type: str
    n_elements: int
    n_bytes: int

    @property
    def layer(self) -> int | None:
        found = _LAYER.match(self.name)
        return int(found.group(1)) if found else None


@dataclass(frozen=True)
class GgufInfo:
    """What the header says; None where the file does not say it."""

    architecture: str | None
    quant: str | None
    name: str | None
    context_length: int | None
    n_layers: int | None
    embedding_length: int | None
    n_heads: int | None
    n_kv_heads: int | None
    vocab_size: int | None
    eos_token_id: int | None
    has_chat_template: bool
    pooling_type: int | None = None
    """Set in embedding models (llama.cpp's enum: 1 mean, 2 cls, 3 last, 4 rank)."""
    key_length: int | None = None
    value_length: int | None = None
    feed_forward_length: int | None = None
    sliding_window: int | None = None
    sliding_window_pattern: int | None = None
    expert_count: int | None = None
    expert_used_count: int | None = None
    n_tokens: int | None = None
    n_merges: int | None = None
    header_bytes: int | None = None
    tensors: tuple[TensorInfo, ...] = field(default=(), repr=False)

    @property
    def head_dim_k(self) -> int | None:
        """Per-head K width: `key_length`, else the HF default embedding / heads."""
        return self.key_length or _divide(self.embedding_length, self.n_heads)

    @property
    def head_dim_v(self) -> int | None:
        return self.value_length or _divide(self.embedding_length, self.n_heads)

    @property
    def weights_bytes(self) -> int:
        return sum(t.n_bytes for t in self.tensors)

    def layer_bytes(self) -> dict[int, int]:
        """Weight bytes of each repeating layer (`blk.N.*`), from the actual tensor sizes."""
        sizes: dict[int, int] = {}
        for tensor in self.tensors:
            if tensor.layer is not None:
                sizes[tensor.layer] = sizes.get(tensor.layer, 0) + tensor.n_bytes
        return sizes

    def tensor_bytes(self, name: str) -> int | None:
        return next((t.n_bytes for t in self.tensors if t.name == name), None)

    def type_counts(self) -> dict[str, int]:
        """How many tensors of each ggml type the file holds (what was really written)."""
        return dict(Counter(t.ggml_type for t in self.tensors))


def _divide(a: int | None, b: int | None) -> int | None:
    return a // b if a and b else None


def _count(key: str, value: Any) -> int | None:
    """A non-negative integer field; a per-layer array counts by its maximum."""
    if value is None:
        return None
    if isinstance(value, list):
        return max((c for c in (_count(key, v) for v in value) if c is not None), default=None)
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadHeader(f"{key} must be an integer, not {type(value).__name__}")
    if not 0 <= value <= MAX_VALUE:
        raise BadHeader(f"{key} is {value}, out of range")
    return value


def _text(key: str, value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise BadHeader(f"{key} must be a string, not {type(value).__name__}")


def _quant_name(file_type: int | None) -> str | None:
    import gguf

    if file_type is None:
        return None
    try:
        name = gguf.LlamaFileType(file_type).name
    except ValueError:
        return f"file_type {file_type}"
    return name.removeprefix("MOSTLY_").removeprefix("ALL_")


def is_gguf(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return handle.read(4) == GGUF_MAGIC
    except OSError:
        return False


def read_gguf_info(path: Path) -> GgufInfo:
    """Parse the header (the file is memory-mapped; tensor data is never read)."""
    if not is_gguf(path):
        raise InvalidModelFileError(f"{path} is not a GGUF file")
    try:
        return info_from_header(read_header(path))
    except TruncatedHeader as error:
        raise InvalidModelFileError(f"{path}: GGUF header cut short ({error})") from error
    except (BadHeader, OSError, ValueError) as error:
        raise InvalidModelFileError(f"{path}: malformed GGUF header ({error})") from error


def _type_name(ggml_type: int) -> str:
    import gguf

    try:
        return gguf.GGMLQuantizationType(ggml_type).name
    except ValueError:
        return f"type {ggml_type}"


def _tensor_info(tensor: RawTensor) -> TensorInfo:
    from catalog.quant_types import ggml_bytes

    name = _type_name(tensor.ggml_type)
    try:
        size = ggml_bytes(name, tensor.n_elements) if not name.startswith("type ") else 0
    except ValueError as error:  # a count that is not whole blocks of its type
        raise BadHeader(f"tensor {tensor.name!r}: {error}") from None
    return TensorInfo(tensor.name, name, tensor.n_elements, size)


def info_from_header(header: GgufHeader) -> GgufInfo:
    """What the header says, each key checked for its type; raises BadHeader."""
    fields, lengths = header.fields, header.array_lengths
    arch = _text("general.architecture", fields.get("general.architecture"))

    def arch_field(key: str) -> int | None:
        return _count(f"{arch}.{key}", fields.get(f"{arch}.{key}")) if arch else None

    tensors = tuple(_tensor_info(t) for t in header.tensors)
    _check_tensor_data(header, tensors)
    return GgufInfo(
        architecture=arch,
        quant=_quant_name(_count("general.file_type", fields.get("general.file_type"))),
        name=_text("general.name", fields.get("general.name")),
        context_length=arch_field("context_length"),
        n_layers=_layers(arch_field("block_count")),
        embedding_length=arch_field("embedding_length"),
        n_heads=arch_field("attention.head_count"),
        n_kv_heads=arch_field("attention.head_count_kv"),
        vocab_size=arch_field("vocab_size") or lengths.get("tokenizer.ggml.tokens"),
        eos_token_id=_count(
            "tokenizer.ggml.eos_token_id", fields.get("tokenizer.ggml.eos_token_id")
        ),
        has_chat_template="tokenizer.chat_template" in fields,
        pooling_type=arch_field("pooling_type"),
        key_length=arch_field("attention.key_length"),
        value_length=arch_field("attention.value_length"),
        feed_forward_length=arch_field("feed_forward_length"),
        sliding_window=arch_field("attention.sliding_window"),
        sliding_window_pattern=_pattern(
            arch, fields.get(f"{arch}.attention.sliding_window_pattern")
        ),
        expert_count=arch_field("expert_count"),
        expert_used_count=arch_field("expert_used_count"),
        n_tokens=lengths.get("tokenizer.ggml.tokens"),
        n_merges=lengths.get("tokenizer.ggml.merges"),
        header_bytes=header.data_offset,
        tensors=tensors,
    )


def _layers(count: int | None) -> int | None:
    if count is not None and count > MAX_LAYERS:
        raise BadHeader(f"block_count {count} is more than llama.cpp's {MAX_LAYERS} layers")
    return count


def _check_tensor_data(header: GgufHeader, tensors: tuple[TensorInfo, ...]) -> None:
    """Every tensor's data must lie inside the file."""
    if header.file_size is None:
        return
    room = header.file_size - header.data_offset
    for raw, info in zip(header.tensors, tensors, strict=True):
        if raw.offset + info.n_bytes > room:
            raise BadHeader(
                f"tensor {raw.name!r} ({info.n_bytes} bytes at {raw.offset}) lies past the "
                f"end of the file ({header.file_size} bytes)"
            )


def _pattern(arch: str | None, value: Any) -> int | None:
    """A scalar pattern is kept; a per-layer list is not a period (treated as unknown)."""
    if arch is None or value is None or isinstance(value, list):
        return None
    return _count(f"{arch}.attention.sliding_window_pattern", value)
