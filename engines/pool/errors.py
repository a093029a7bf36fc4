"""Why a request could not get an engine; the gateway turns each into an HTTP answer."""

from __future__ import annotations

from engines.errors import EngineError


class PoolError(EngineError):
    """Base of admission failures; `retry_after_s` is set where waiting would help."""

    retry_after_s: int | None = None


class ModelNotServedError(PoolError):
    """Neither running nor offered on demand (404)."""

    def __init__(self, model: str, served: list[str], offered: list[str]) -> None:
        names = ", ".join(sorted({*served, *offered})) or "none"
        super().__init__(f"The model '{model}' is not served here. Served models: {names}.")
        self.model = model


class QueueFullError(PoolError):
    """The model's queue is full (429): the client should come back later."""

    def __init__(self, model: str, active: int, waiting: int, retry_after_s: int) -> None:
        super().__init__(
            f"'{model}' is busy: {active} request(s) running and {waiting} waiting, the most "
            f"this server queues; retry in {retry_after_s} s."
        )
        self.retry_after_s = retry_after_s


class PoolBusyError(PoolError):
    """Waiting longer than the configured bound: still loading, or no room yet (503)."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class OverBudgetError(PoolError):
    """The model needs more than the budget can ever give, even with every on-demand
    engine unloaded (507)."""
