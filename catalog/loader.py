"""Loading the catalog from its TOML entries; a broken entry is reported, not fatal."""

from __future__ import annotations

import difflib
import tomllib
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from catalog.entry import CatalogEntry, GgufFile
from catalog.errors import ModelNotFoundError, QuantNotAvailableError

ENTRIES_DIR = Path(__file__).parent / "entries"


@dataclass(frozen=True)
class ModelRef:
    """A user's model reference: `id` or `id:QUANT`."""

    model_id: str
    quant: str | None = None

    @classmethod
    def parse(cls, text: str) -> ModelRef:
        model_id, _, quant = text.strip().partition(":")
        return cls(model_id.lower(), quant.upper() or None)

    def __str__(self) -> str:
        return f"{self.model_id}:{self.quant}" if self.quant else self.model_id


@dataclass(frozen=True)
class Catalog:
    """Valid entries by id, plus one line per entry that failed to load."""

    entries: dict[str, CatalogEntry]
    problems: tuple[str, ...] = ()

    def get(self, model_id: str) -> CatalogEntry:
        entry = self.entries.get(model_id.lower())
        if entry is None:
            close = difflib.get_close_matches(model_id.lower(), list(self.entries), n=3)
            raise ModelNotFoundError(model_id, close)
        return entry

    def resolve(self, ref: ModelRef) -> tuple[CatalogEntry, GgufFile]:
        entry = self.get(ref.model_id)
        gguf = entry.gguf_file(ref.quant)
        if gguf is None and not entry.gguf:
            repos = ", ".join(r.repo for r in entry.gguf_repos) or "none known"
            raise QuantNotAvailableError(
                f"the catalog lists no single GGUF file for {entry.id} (repos: {repos}); "
                "download one yourself and launch it by path"
            )
        if gguf is None:
            raise QuantNotAvailableError(
                f"{entry.id} has no {ref.quant} file; available: {', '.join(entry.quants)}"
            )
        return entry, gguf


def _load_entry(path: Path) -> CatalogEntry:
    with path.open("rb") as handle:
        return CatalogEntry.model_validate(tomllib.load(handle))


def _describe(error: Exception) -> str:
    if isinstance(error, ValidationError):
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "entry"
        return f"{where}: {first['msg']}"
    return str(error)


def load_catalog(directory: Path = ENTRIES_DIR) -> Catalog:
    entries: dict[str, CatalogEntry] = {}
    problems: list[str] = []
    for path in sorted(directory.glob("*.toml")):
        try:
            entry = _load_entry(path)
        except (OSError, tomllib.TOMLDecodeError, ValidationError) as error:
            problems.append(f"{path.name}: {_describe(error)}")
            continue
        if entry.id in entries:
            problems.append(f"{path.name}: duplicate id {entry.id!r}")
            continue
        entries[entry.id] = entry
    return Catalog(entries, tuple(problems))
