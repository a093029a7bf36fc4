"""A fast reader for the header of a GGUF file (metadata and tensor table, no data).

gguf-py's GGUFReader builds a numpy view for every element of every array, so a header
with a 150k-token vocabulary takes seconds; this reader keeps scalars, strings and short
arrays, counts long arrays without materialising them, and works on any buffer (a mapped
local file, or the first megabytes of a remote one: `TruncatedHeader` says more is needed).
Format: https://github.com/ggml-org/ggml/blob/master/docs/gguf.md (little-endian v2/v3).

Nothing in a header is trusted: every count (keys, tensors, dimensions, array and string
lengths) is bounded by the bytes the whole file has (`file_size`, which for a remote range
read is the size the server gave), so a crafted header fails in microseconds with
`BadHeader` instead of looping or allocating; `TruncatedHeader` only means that the buffer
(not the file) ended early. Limits follow llama.cpp's own loader (ggml/src/gguf.cpp).
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from catalog.errors import InvalidModelFileError

GGUF_MAGIC = b"GGUF"
DEFAULT_ALIGNMENT = 32
SHORT_ARRAY = 64
"""Arrays up to this length are kept (per-layer values); longer ones only counted."""
MAX_DIMS = 4
"""GGML_MAX_DIMS."""
MAX_ELEMENTS = (1 << 63) - 1
"""llama.cpp refuses a tensor whose element count reaches INT64_MAX."""
MIN_FIELD_BYTES = 8 + 4 + 1
"""Key length, value type, and the smallest value (a bool)."""
MIN_TENSOR_BYTES = 8 + 4 + 4 + 8
"""Name length, dimension count, type and data offset (a tensor with no dimensions)."""

_SCALARS = {
    0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?",
    10: "<Q", 11: "<q", 12: "<d",
}  # fmt: skip
_STRING, _ARRAY = 8, 9


class BadHeader(InvalidModelFileError):
    """Not a GGUF header this reader understands, or one its own file cannot hold."""


class TruncatedHeader(BadHeader):
    """The buffer ends inside the header (a remote read may fetch more and try again)."""


@dataclass(frozen=True)
class RawTensor:
    name: str
    ggml_type: int
    shape: tuple[int, ...]
    offset: int = 0
    """Where its data starts, from the start of the data section."""

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
    file_size: int | None = None
    """The whole file's size in bytes, which tensor data must fit in."""


class _Cursor:
    def __init__(self, buffer: Any, file_size: int) -> None:
        self.buffer, self.pos, self.file_size = buffer, 0, file_size

    def count(self, fmt: str, item_bytes: int, what: str) -> int:
        """Read a count and refuse it when that many items cannot fit in the file."""
        value = int(self.take(fmt))
        room = self.file_size - self.pos
        if value * item_bytes > room:
            raise BadHeader(
                f"{what} count {value} needs more than the {max(room, 0)} bytes left in the file"
            )
        return value

    def take(self, fmt: str) -> Any:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.buffer):
            raise TruncatedHeader(f"header continues past byte {len(self.buffer)}")
        value = struct.unpack_from(fmt, self.buffer, self.pos)[0]
        self.pos += size
        return value

    def string(self) -> str:
        length = self.count("<Q", 1, "string length")
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
        kind = self.take("<I")
        if kind not in _SCALARS and kind != _STRING:
            raise BadHeader(f"unsupported GGUF array of type {kind}")
        item = 8 if kind == _STRING else struct.calcsize(_SCALARS[kind])
        count = self.count("<Q", item, "array length")
        if count <= SHORT_ARRAY:
            return [self.value(kind) for _ in range(count)], count
        if kind == _STRING:
            for _ in range(count):
                self.skip(self.count("<Q", 1, "string length"))
        else:
            self.skip(count * item)
        return None, count


def parse_header(buffer: Any, file_size: int | None = None) -> GgufHeader:
    """Parse a GGUF header from the start of `buffer` (bytes, mmap or memoryview) of a file
    of `file_size` bytes (default: the buffer is the whole file)."""
    size = len(buffer) if file_size is None else file_size
    cursor = _Cursor(buffer, size)
    if bytes(buffer[:4]) != GGUF_MAGIC:
        raise BadHeader("not a GGUF file")
    cursor.skip(4)
    version = cursor.take("<I")
    if version not in (2, 3):
        raise BadHeader(f"GGUF version {version} is not supported (big-endian or too old?)")
    n_tensors = cursor.count("<Q", MIN_TENSOR_BYTES, "tensor")
    n_fields = cursor.count("<Q", MIN_FIELD_BYTES, "metadata key")
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
    offset = _data_offset(cursor.pos, _alignment(fields))
    if offset > size:
        raise BadHeader(f"the data section would start at byte {offset}, past the file's end")
    return GgufHeader(version, fields, lengths, tensors, offset, size)


def _alignment(fields: dict[str, Any]) -> int:
    """`general.alignment`: an integer power of two, as llama.cpp requires."""
    value = fields.get("general.alignment", DEFAULT_ALIGNMENT)
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadHeader(f"general.alignment must be an integer, not {type(value).__name__}")
    if value <= 0 or value & (value - 1):
        raise BadHeader(f"general.alignment {value} is not a power of two")
    return value


def _data_offset(position: int, alignment: int) -> int:
    return -(-position // alignment) * alignment


def _tensor(cursor: _Cursor) -> RawTensor:
    name = cursor.string()
    n_dims = cursor.take("<I")
    if n_dims > MAX_DIMS:
        raise BadHeader(f"tensor {name!r} has {n_dims} dimensions (at most {MAX_DIMS})")
    dims = tuple(int(cursor.take("<Q")) for _ in range(n_dims))
    elements = 1
    for dim in dims:
        elements *= dim
    if elements > MAX_ELEMENTS:
        raise BadHeader(f"tensor {name!r} of shape {dims} has too many elements")
    kind = cursor.take("<I")
    offset = int(cursor.take("<Q"))
    return RawTensor(name, kind, dims, offset)


def read_header(path: Path) -> GgufHeader:
    """Parse a local file's header through a read-only mapping (only its pages are read)."""
    with (
        path.open("rb") as handle,
        mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped,
    ):
        return parse_header(mapped)
