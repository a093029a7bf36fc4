"""Reading a GGUF file's header: architecture, quantization and the memory-math numbers."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from catalog.errors import InvalidModelFileError

GGUF_MAGIC = b"GGUF"


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


def _field(reader: Any, key: str) -> Any:
    field = reader.fields.get(key)
    return None if field is None else field.contents()


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
    """Parse the header (the file is memory-mapped, not read whole)."""
    import gguf

    if not is_gguf(path):
        raise InvalidModelFileError(f"{path} is not a GGUF file")
    try:
        reader = gguf.GGUFReader(path)
    except (ValueError, OSError) as error:
        raise InvalidModelFileError(f"{path}: unreadable GGUF header ({error})") from error
    arch = _field(reader, "general.architecture")

    def arch_field(key: str) -> Any:
        return _field(reader, f"{arch}.{key}") if arch else None

    return GgufInfo(
        architecture=arch,
        quant=_quant_name(_field(reader, "general.file_type")),
        name=_field(reader, "general.name"),
        context_length=arch_field("context_length"),
        n_layers=arch_field("block_count"),
        embedding_length=arch_field("embedding_length"),
        n_heads=arch_field("attention.head_count"),
        n_kv_heads=arch_field("attention.head_count_kv"),
        vocab_size=arch_field("vocab_size"),
        eos_token_id=_field(reader, "tokenizer.ggml.eos_token_id"),
        has_chat_template="tokenizer.chat_template" in reader.fields,
        pooling_type=arch_field("pooling_type"),
    )
