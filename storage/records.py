"""The records the store keeps, as typed rows: what the gateway measures about each request
(docs/architecture.md, "Measuring"), engine events, and local model files.

Each converts itself to and from its table's row, so JSON columns and SQLite's integers for
booleans stay inside `storage`."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any


class RequestStatus(StrEnum):
    """How a request ended, from the client's point of view."""

    OK = "ok"
    CLIENT_ERROR = "client_error"
    """Rejected for the request's own fault: bad JSON, unknown model, context overflow."""
    UNAVAILABLE = "unavailable"
    """The engine was not ready; the client was told to retry."""
    ENGINE_ERROR = "engine_error"
    """The engine failed or died while serving it."""
    CANCELLED = "cancelled"
    """The client went away or the server shut down before the answer was complete."""


@dataclass(frozen=True)
class RequestRecord:
    """One served request. Times are from the moment the gateway received it.

    ttft_ms: until the first chunk with non-empty `choices` (None when nothing arrived);
    e2e_ms: until the last content chunk or the complete response.
    """

    id: str
    model: str
    engine: str
    endpoint: str
    stream: bool
    started_at: float
    status: RequestStatus
    http_status: int
    ttft_ms: float | None = None
    e2e_ms: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    error: str | None = None

    def as_row(self) -> dict[str, Any]:
        row = asdict(self)
        row["status"] = str(self.status)
        row["stream"] = int(self.stream)
        return row

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> RequestRecord:
        values = dict(row)
        values["status"] = RequestStatus(values["status"])
        values["stream"] = bool(values["stream"])
        return cls(**values)


@dataclass(frozen=True)
class EngineEventRecord:
    """Something that happened to an engine (the supervisor's `EngineEvent`), as stored."""

    engine: str
    model: str | None
    kind: str
    """started | ready | hung | crashed | restart_failed | stopped"""
    at: float
    exit_code: int | None = None
    detail: str | None = None
    id: int | None = None
    """Given by the store when the event is written; None before."""

    def as_row(self) -> dict[str, Any]:
        """The row, `id` first as the table has it (the control API returns these)."""
        row = asdict(self)
        return {"id": row.pop("id"), **row}

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> EngineEventRecord:
        return cls(**row)


@dataclass(frozen=True)
class LocalModelRecord:
    """A model file this hostbench home knows about (the catalog's `LocalModel`), as stored."""

    id: str
    path: Path
    sha256: str
    size_bytes: int
    origin: str
    quant: str | None = None
    catalog_id: str | None = None
    lineage: dict[str, Any] | None = None
    """Where a derived file came from (a quantize's base and type); JSON in the table."""
    added_at: float | None = None
    """Set by the store when the model is written; None before."""

    def as_row(self) -> dict[str, Any]:
        row = asdict(self)
        row["path"] = str(self.path)
        row["lineage"] = json.dumps(self.lineage) if self.lineage else None
        return row

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> LocalModelRecord:
        values = dict(row)
        values["path"] = Path(values["path"])
        values["size_bytes"] = values["size_bytes"] or 0
        values["lineage"] = json.loads(values["lineage"]) if values["lineage"] else None
        return cls(**values)
