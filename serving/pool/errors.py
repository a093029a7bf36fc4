"""Why a request could not get an engine; the gateway turns each into an HTTP answer."""

from __future__ import annotations

from engines.errors import EngineError
from errors import NotFoundError, OpenAIType, UnavailableError


class PoolError(EngineError):
    """Base of admission failures; `retry_after_s` is set where waiting would help."""

    retry_after_s: int | None = None


class ModelNotServedError(PoolError, NotFoundError):
    """Neither running nor offered on demand (404)."""

    api_code = "model_not_found"

    def __init__(
        self, model: str, served: list[str], offered: list[str], waited_s: float = 0.0
    ) -> None:
        names = ", ".join(sorted({*served, *offered})) or "none"
        waited = f" (no launch of it reached the server in {waited_s:g} s)" if waited_s else ""
        super().__init__(f"The model '{model}' is not served here{waited}. Served models: {names}.")
        self.model = model


class QueueFullError(PoolError, UnavailableError):
    """The model's queue is full (429): the client should come back later."""

    http_status = 429
    openai_type = OpenAIType.RATE_LIMIT
    api_code = "model_queue_full"

    def __init__(self, model: str, active: int, waiting: int, retry_after_s: int) -> None:
        super().__init__(
            f"'{model}' is busy: {active} request(s) running and {waiting} waiting, the most "
            f"this server queues; retry in {retry_after_s} s."
        )
        self.retry_after_s = retry_after_s


class PoolBusyError(PoolError, UnavailableError):
    """Waiting longer than the configured bound: still loading, or no room yet (503)."""

    api_code = "engine_unavailable"

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class OverBudgetError(PoolError):
    """The model needs more than the budget can ever give, even with every on-demand
    engine unloaded (507)."""

    http_status = 507
    api_code = "insufficient_memory"


class LaunchFailedError(PoolError):
    """The launch a request waited for failed (502): the request was fine, the model could
    not be started."""

    http_status = 502
    openai_type = OpenAIType.SERVER
    api_code = "model_load_failed"

    def __init__(self, model: str, error: BaseException) -> None:
        detail = getattr(error, "summary", None) or str(error) or type(error).__name__
        super().__init__(f"Starting '{model}' failed: {detail}")
