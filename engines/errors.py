"""What can go wrong when starting, stopping and talking to engines."""

from __future__ import annotations

from errors import ExitCode, HostbenchError, NotFoundError, UnavailableError, UsageError


class EngineError(HostbenchError):
    """Base of engine errors; the message is one line a user can act on."""


class UnknownEngineError(EngineError, UsageError):
    """No engine adapter is installed under that name."""


class EngineUnavailableError(EngineError):
    """The engine's runtime (binary or Python package) is not installed here: unavailable
    to the CLI, a bad choice of engine to a control request (400)."""

    exit_code = ExitCode.UNAVAILABLE
    http_status = 400
    openai_type = UsageError.openai_type


class EngineStartError(EngineError):
    """An engine process exited or timed out before it was ready."""

    exit_code = ExitCode.LAUNCH_FAILED

    def __init__(self, message: str, log_tail: list[str]) -> None:
        lines = "\n".join(f"  | {line}" for line in log_tail)
        super().__init__(
            f"{message}\n  last lines of the engine log:\n{lines}" if lines else message
        )
        self.summary = message
        self.log_tail = log_tail


class EngineNotFoundError(EngineError, NotFoundError):
    """No running engine has that name."""


class EngineExistsError(EngineError):
    """An engine with that name already runs."""

    exit_code = ExitCode.UNAVAILABLE
    http_status = 409
    openai_type = UsageError.openai_type


class PortInUseError(EngineError, UnavailableError):
    """The server's port is taken by another program."""


class InsecureBindError(EngineError, UsageError):
    """A non-loopback address was asked for without an API key."""


class UnsupportedOptionError(EngineError, UsageError):
    """The option cannot work with this engine runtime and model; the message says why."""


class UnsupportedExportError(EngineError):
    """The engine has no container image hostbench knows how to configure."""
