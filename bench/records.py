"""What the gateway measures about each request it serves (DESIGN.md "Measuring")."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
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
