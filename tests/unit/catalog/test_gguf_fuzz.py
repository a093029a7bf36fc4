"""Fuzzing the GGUF header reader the way `hostbench fit FILE` uses it: header, model shape,
memory fit. Whatever the bytes (well-formed headers with random values and types, huge
counts, truncated or mutated real files), the only error is InvalidModelFileError, the one
`fit` turns into a one-line message and exit code 2.

The test run uses a few hundred examples per property; the long run is

    HOSTBENCH_FUZZ_EXAMPLES=20000 .venv/bin/python -m pytest -p no:xdist \\
        tests/unit/catalog/test_gguf_fuzz.py
"""

from __future__ import annotations

import os
import re
import struct
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from app.cli import main
from catalog import InvalidModelFileError, read_gguf_info
from catalog.fit import FitOptions
from catalog.gguf_header import _Cursor, parse_header
from catalog.gguf_info import info_from_header
from catalog.model_shape import shape_from_gguf
from catalog.placement import Devices, fit
from errors import ExitCode
from tests.gguf_files import TinyModel, write_tiny_gguf
from tests.unit.catalog.conftest import machine

EXAMPLES = int(os.environ.get("HOSTBENCH_FUZZ_EXAMPLES", "300"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
DEVICES = Devices.from_snapshot(machine("one_gpu_rtx5090"))
U64 = (1 << 64) - 1
SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?",
           10: "<Q", 11: "<q", 12: "<d"}  # fmt: skip
KEYS = [
    "general.alignment", "general.architecture", "general.file_type", "general.name",
    "llama.block_count", "llama.context_length", "llama.embedding_length",
    "llama.attention.head_count", "llama.attention.head_count_kv",
    "llama.attention.key_length", "llama.attention.value_length", "llama.feed_forward_length",
    "llama.attention.sliding_window", "llama.attention.sliding_window_pattern",
    "llama.expert_count", "llama.expert_used_count", "llama.vocab_size", "llama.pooling_type",
    "tokenizer.ggml.tokens", "tokenizer.ggml.merges", "tokenizer.ggml.eos_token_id",
    "tokenizer.chat_template",
]  # fmt: skip
TENSORS = ["token_embd.weight", "output.weight", "blk.0.attn_q.weight", "blk.1.ffn_up.weight"]


def _tiny_file_bytes() -> bytes:
    with tempfile.TemporaryDirectory() as scratch:
        path = write_tiny_gguf(Path(scratch) / "m.gguf", TinyModel(weight_type="Q8_0"))
        return path.read_bytes()


REAL = _tiny_file_bytes()


def u32(value: int) -> bytes:
    return struct.pack("<I", value & 0xFFFFFFFF)


def u64(value: int) -> bytes:
    return struct.pack("<Q", value & U64)


def big_or_small() -> st.SearchStrategy[int]:
    return st.one_of(st.integers(0, 8), st.integers(0, 1 << 16), st.integers(0, U64))


@st.composite
def scalar(draw: st.DrawFn, kind: int) -> bytes:
    fmt = SCALARS[kind]
    if fmt in ("<f", "<d"):
        width = 32 if fmt == "<f" else 64
        return struct.pack(fmt, draw(st.floats(width=width)))
    if fmt == "<?":
        return struct.pack(fmt, draw(st.booleans()))
    bits = struct.calcsize(fmt) * 8
    signed = fmt.islower()
    low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    return struct.pack(fmt, draw(st.integers(low, high)))


@st.composite
def text(draw: st.DrawFn, honest: bool = True) -> bytes:
    data = draw(st.sampled_from(["llama", "qwen3", "gemma3", ""]) | st.text(max_size=12))
    raw = data.encode()
    length = len(raw) if honest or draw(st.booleans()) else draw(big_or_small())
    return u64(length) + raw


@st.composite
def value(draw: st.DrawFn) -> bytes:
    """A value type and its bytes; sometimes a type this reader has never heard of, and
    arrays whose length does not match their elements."""
    kind = draw(st.sampled_from([*SCALARS, 8, 9, 13, 0xFFFFFFFF]))
    if kind in SCALARS:
        return u32(kind) + draw(scalar(kind))
    if kind == 8:
        return u32(8) + draw(text(honest=False))
    if kind != 9:
        return u32(kind)
    item = draw(st.sampled_from([*SCALARS, 8, 9]))
    items = draw(st.lists(scalar(item) if item in SCALARS else text(), max_size=70))
    if item == 9:
        items = []
    count = len(items) if draw(st.booleans()) else draw(big_or_small())
    return u32(9) + u32(item) + u64(count) + b"".join(items)


@st.composite
def tensor(draw: st.DrawFn) -> bytes:
    name = draw(st.sampled_from(TENSORS) | st.text(max_size=8)).encode()
    dims = draw(st.lists(st.integers(1, 4096) | big_or_small(), max_size=6))
    n_dims = len(dims) if draw(st.booleans()) else draw(st.integers(0, 0xFFFFFFFF))
    kind = draw(st.integers(0, 45) | st.integers(0, 0xFFFFFFFF))
    offset = draw(st.integers(0, 1 << 20) | big_or_small())
    return u64(len(name)) + name + u32(n_dims) + b"".join(map(u64, dims)) + u32(kind) + u64(offset)


@st.composite
def header(draw: st.DrawFn) -> bytes:
    """A header laid out as the format says, with random keys, types, values and counts."""
    keys = draw(st.lists(st.sampled_from(KEYS) | st.text(max_size=10), max_size=24))
    fields = [u64(len(k.encode())) + k.encode() + draw(value()) for k in keys]
    tensors = draw(st.lists(tensor(), max_size=6))
    n_fields = len(fields) if draw(st.booleans()) else draw(big_or_small())
    n_tensors = len(tensors) if draw(st.booleans()) else draw(big_or_small())
    version = draw(st.sampled_from([3, 2]) | st.integers(0, 0xFFFFFFFF))
    body = b"GGUF" + u32(version) + u64(n_tensors) + u64(n_fields)
    return body + b"".join(fields + tensors) + bytes(draw(st.integers(0, 1 << 16)))


NEEDED = ["llama.block_count", "llama.attention.head_count", "llama.embedding_length"]


def rarely(draw: st.DrawFn) -> bool:
    return draw(st.integers(0, 9)) == 0


@st.composite
def plausible_field(draw: st.DrawFn, key: str) -> bytes:
    """Mostly what a real file holds for `key` (an integer, or the architecture's name);
    now and then any value of any type."""
    if rarely(draw):
        encoded = draw(value())
    elif key == "general.architecture":
        encoded = u32(8) + u64(5) + b"llama"
    elif key == "general.alignment":
        encoded = u32(4) + u32(draw(st.sampled_from([1, 8, 32, 64, 4096])))
    else:
        encoded = u32(draw(st.sampled_from([4, 10]))) + b""
        kind = struct.unpack("<I", encoded)[0]
        number = draw(st.integers(0, 300) | st.integers(0, 1 << 31))
        encoded += u32(number) if kind == 4 else u64(number)
    return u64(len(key)) + key.encode() + encoded


@st.composite
def small_tensor(draw: st.DrawFn) -> bytes:
    """F32/F16 tensors with small shapes, so their data can fit in the file."""
    if rarely(draw):
        return draw(tensor())
    name = draw(st.sampled_from([*TENSORS, "blk.2.attn_k.weight", "output_norm.weight"])).encode()
    dims = draw(st.lists(st.integers(1, 64), min_size=1, max_size=2))
    kind = draw(st.sampled_from([0, 1]))
    offset = draw(st.integers(0, 4096))
    return (
        u64(len(name)) + name + u32(len(dims)) + b"".join(map(u64, dims)) + u32(kind) + u64(offset)
    )


@st.composite
def plausible_header(draw: st.DrawFn) -> bytes:
    """A header close to a real one: the keys fit needs, mostly sound values and counts,
    tensors whose data fits, with a lie (a type, a count, a length) here and there."""
    keys = ["general.architecture", *NEEDED]
    keys += draw(st.lists(st.sampled_from(KEYS), max_size=10))
    fields = [draw(plausible_field(k)) for k in keys]
    tensors = draw(st.lists(small_tensor(), max_size=8))
    n_fields = draw(big_or_small()) if rarely(draw) else len(fields)
    n_tensors = draw(big_or_small()) if rarely(draw) else len(tensors)
    body = b"GGUF" + u32(3) + u64(n_tensors) + u64(n_fields) + b"".join(fields + tensors)
    return body + bytes(draw(st.integers(0, 40_000)))


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A real file (written by gguf-py) cut short, or with bytes or counts overwritten."""
    data = bytearray(REAL)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(4, len(data) - 9))
        how = draw(st.sampled_from(["flip", "u64", "u32", "cut"]))
        if how == "flip":
            data[at] ^= draw(st.integers(1, 255))
        elif how == "u64":
            data[at : at + 8] = u64(draw(big_or_small()))
        elif how == "u32":
            data[at : at + 4] = u32(draw(st.integers(0, 0xFFFFFFFF)))
        else:
            del data[at:]
            break
    return bytes(data)


def fit_file(data: bytes) -> None:
    """What `hostbench fit FILE` does with a file's bytes."""
    shape = shape_from_gguf(info_from_header(parse_header(data)), "fuzz", len(data))
    fit(shape, FitOptions(), DEVICES)


def only_the_clear_error(data: bytes) -> None:
    """(`--hypothesis-show-statistics` shows how many got a verdict and why others failed.)"""
    try:
        fit_file(data)
    except InvalidModelFileError as error:
        assert "\n" not in str(error) and str(error)
        words = re.sub(r"'[^']*'|\d+", "N", str(error)).split()
        event(f"refused: {' '.join(words[:4])}")
    else:
        event("got a fit verdict")


@FUZZ
@given(header())
def test_generated_headers_give_only_the_clear_error(data: bytes) -> None:
    only_the_clear_error(data)


@FUZZ
@given(plausible_header())
def test_plausible_headers_give_a_verdict_or_the_clear_error(data: bytes) -> None:
    only_the_clear_error(data)


@FUZZ
@given(mutated())
def test_mutated_real_files_give_only_the_clear_error(data: bytes) -> None:
    only_the_clear_error(data)


def test_the_unmutated_file_fits() -> None:
    fit_file(REAL)  # the property above is not vacuous: a sound file gets a verdict


def _with_field(data: bytes, key: str, encoded: bytes) -> bytes:
    """The file with one more metadata key after the others (so it wins over a key of the
    same name), its count raised to match, and room at the end for the shifted data."""
    n_fields = struct.unpack_from("<Q", data, 16)[0]
    cursor = _Cursor(data, len(data))
    cursor.pos = 24
    for _ in range(n_fields):
        cursor.string()
        kind = cursor.take("<I")
        _ = cursor.array() if kind == 9 else cursor.value(kind)
    extra = u64(len(key)) + key.encode() + encoded
    padding = bytes(len(extra) + 64)
    return (
        data[:16] + u64(n_fields + 1) + data[24 : cursor.pos] + extra + data[cursor.pos :] + padding
    )


@pytest.mark.parametrize(
    ("key", "encoded", "message"),
    [
        ("general.alignment", u32(9) + u32(4) + u64(2) + u32(32) + u32(64), "must be an integer"),
        ("general.alignment", u32(4) + u32(48), "not a power of two"),
        ("llama.block_count", u32(8) + u64(3) + b"abc", "must be an integer"),
        ("llama.block_count", u32(4) + u32(100_000), "more than llama.cpp's 512 layers"),
        ("general.architecture", u32(4) + u32(7), "must be a string"),
        ("tokenizer.ggml.merges", u32(9) + u32(8) + u64(1 << 60), "needs more than"),
    ],
)
def test_crafted_headers_end_fit_with_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], key: str, encoded: bytes, message: str
) -> None:
    """`general.alignment` as an array once ended `hostbench fit` in a TypeError traceback."""
    path = tmp_path / "crafted.gguf"
    path.write_bytes(_with_field(REAL, key, encoded))
    with pytest.raises(InvalidModelFileError, match=message):
        read_gguf_info(path)
    assert main(["fit", str(path)]) == ExitCode.USAGE
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0]
