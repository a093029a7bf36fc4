"""The local models this hostbench home knows about, kept in the store."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from storage import LocalModelRecord, Store


@dataclass(frozen=True)
class LocalModel:
    """A model file on this machine and where it came from."""

    id: str
    path: Path
    sha256: str
    size_bytes: int
    origin: str
    quant: str | None = None
    catalog_id: str | None = None
    lineage: dict[str, Any] | None = None

    @property
    def present(self) -> bool:
        try:
            return self.path.stat().st_size == self.size_bytes
        except OSError:
            return False

    def as_record(self) -> LocalModelRecord:
        return LocalModelRecord(
            id=self.id,
            path=self.path,
            sha256=self.sha256,
            size_bytes=self.size_bytes,
            origin=self.origin,
            quant=self.quant,
            catalog_id=self.catalog_id,
            lineage=self.lineage,
        )

    @classmethod
    def from_record(cls, record: LocalModelRecord) -> LocalModel:
        return cls(
            id=record.id,
            path=record.path,
            sha256=record.sha256,
            size_bytes=record.size_bytes,
            origin=record.origin,
            quant=record.quant,
            catalog_id=record.catalog_id,
            lineage=record.lineage,
        )


def local_id(catalog_id: str, quant: str) -> str:
    return f"{catalog_id}:{quant.upper()}"


class LocalModels:
    """Registry of local model files over the store's `local_models` table."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def all(self) -> list[LocalModel]:
        return [LocalModel.from_record(r) for r in self._store.local_models()]

    def get(self, model_id: str) -> LocalModel | None:
        wanted = model_id.lower()
        return next((m for m in self.all() if m.id.lower() == wanted), None)

    def register(self, model: LocalModel) -> LocalModel:
        self._store.put_local_model(model.as_record())
        return model

    def forget(self, model_id: str) -> bool:
        return self._store.remove_local_model(model_id)
