"""A fast reader for the header of a GGUF file (metadata and tensor table, no data).

gguf-py's GGUFReader builds a numpy view for every element of every array, so a header
with a 150k-token vocabulary takes seconds; this reader keeps scalars, strings and short
arrays, counts long arrays without materialising them, and works on any buffer (a mapped
local file, or the first megabytes of a remote one: `TruncatedHeader` says more is needed).
Format: https://github.com/ggml-org/ggml/blob/master/docs/gguf.md (little-endian v2/v3).
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

GGUF_MAGIC = b"GGUF"
DEFAULT_ALIGNMENT = 32
SHORT_ARRAY = 64
"""Arrays up to this length are kept (per-layer values); longer ones only counted."""

_SCALARS = {
    0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?",
    10: "<Q", 11: "<q", 12: "<d",
}  # fmt: skip
_STRING, _ARRAY = 8, 9


class TruncatedHeader(ValueError):
    """The buffer ends inside the header."""


class BadHeader(ValueError):
    """Not a GGUF header this reader understands."""


@dataclass(frozen=True)
class RawTensor:
    name: str
    ggml_type: int
    shape: tuple[int, ...]

    @property
    def n_elements(self) -> int:
        count = 1
        for dim in self.shape:
            count *= dim
        return count


@dataclass(frozen=True)
class GgufHeader:
    version: int
    fields: dict[str, Any]
    array_lengths: dict[str, int]
    tensors: tuple[RawTensor, ...]
    data_offset: int


class _Cursor:
    def __init__(self, buffer: Any) -> None:
        self.buffer, self.pos = buffer, 0

    def take(self, fmt: str) -> Any:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.buffer):
            raise TruncatedHeader(f"header continues past byte {len(self.buffer)}")
        value = struct.unpack_from(fmt, self.buffer, self.pos)[0]
        self.pos += size
        return value

    def string(self) -> str:
        length = self.take("<Q")
        end = self.pos + length
        if end > len(self.buffer):
            raise TruncatedHeader(f"header continues past byte {len(self.buffer)}")
        text = bytes(self.buffer[self.pos : end]).decode("utf-8", errors="replace")
        self.pos = end
        return text

    def skip(self, count: int) -> None:
        self.pos += count
        if self.pos > len(self.buffer):
            raise TruncatedHeader(f"header continues past byte {len(self.buffer)}")

    def value(self, kind: int) -> Any:
        if kind == _STRING:
            return self.string()
        if kind in _SCALARS:
            return self.take(_SCALARS[kind])
        raise BadHeader(f"unknown GGUF value type {kind}")

    def array(self) -> tuple[list[Any] | None, int]:
        """(elements, length): elements only for short arrays."""
        kind, count = self.take("<I"), self.take("<Q")
        if count <= SHORT_ARRAY:
            return [self.value(kind) for _ in range(count)], count
        if kind == _STRING:
            for _ in range(count):
                self.skip(self.take("<Q"))
        elif kind in _SCALARS:
            self.skip(count * struct.calcsize(_SCALARS[kind]))
        else:
            raise BadHeader(f"unsupported GGUF array of type {kind}")
        return None, count


def parse_header(buffer: Any) -> GgufHeader:
    """Parse a GGUF header from the start of `buffer` (bytes, mmap or memoryview)."""
    cursor = _Cursor(buffer)
    if bytes(buffer[:4]) != GGUF_MAGIC:
        raise BadHeader("not a GGUF file")
    cursor.skip(4)
    version = cursor.take("<I")
    if version not in (2, 3):
        raise BadHeader(f"GGUF version {version} is not supported (big-endian or too old?)")
    n_tensors, n_fields = cursor.take("<Q"), cursor.take("<Q")
    fields: dict[str, Any] = {}
    lengths: dict[str, int] = {}
    for _ in range(n_fields):
        key, kind = cursor.string(), cursor.take("<I")
        if kind == _ARRAY:
            items, lengths[key] = cursor.array()
            fields[key] = items
        else:
            fields[key] = cursor.value(kind)
    tensors = tuple(_tensor(cursor) for _ in range(n_tensors))
    alignment = int(fields.get("general.alignment") or DEFAULT_ALIGNMENT)
    offset = -(-cursor.pos // alignment) * alignment
    return GgufHeader(version, fields, lengths, tensors, offset)


def _tensor(cursor: _Cursor) -> RawTensor:
    name = cursor.string()
    dims = tuple(cursor.take("<Q") for _ in range(cursor.take("<I")))
    kind = cursor.take("<I")
    cursor.take("<Q")  # offset of the data, not needed
    return RawTensor(name, kind, dims)


def read_header(path: Path) -> GgufHeader:
    """Parse a local file's header through a read-only mapping (only its pages are read)."""
    with (
        path.open("rb") as handle,
        mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped,
    ):
        return parse_header(mapped)
