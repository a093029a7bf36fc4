"""What went wrong, said once for every front end (docs/architecture.md, "Errors").

Every error the core raises on purpose derives from `HostbenchError`, and each class says
how it is answered: the CLI's exit code, the server's HTTP status and the OpenAI error
type. The CLI (`app/cli/exit_codes.py`), the server (`serving/errors.py`) and the workbench
(`app/tui/app.py`) each read these in one place; none of them keeps its own table.

This is the bottom layer: it imports nothing else from the project.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """The CLI's exit codes (README, "Exit codes"): one per kind of failure."""

    OK = 0
    ERROR = 1
    USAGE = 2
    NOT_FOUND = 3
    UNAVAILABLE = 4
    """Port in use, engine or server not available, source unreachable."""
    INTEGRITY = 5
    NO_SPACE = 6
    LAUNCH_FAILED = 7
    ACCESS_DENIED = 8
    """A gated or private model repo: the message says how to get access."""
    DOES_NOT_FIT = 9
    """The model cannot run in this machine's free memory with the chosen options."""
    INTERRUPTED = 130


class OpenAIType:
    """The `type` of an OpenAI-shaped error body."""

    INVALID_REQUEST = "invalid_request_error"
    NOT_FOUND = "not_found_error"
    AUTHENTICATION = "authentication_error"
    RATE_LIMIT = "rate_limit_error"
    SERVER = "server_error"
    UNAVAILABLE = "service_unavailable_error"


class HostbenchError(Exception):
    """An error the core explains in its message. Subclasses set how it is answered."""

    exit_code: ExitCode = ExitCode.ERROR
    http_status: int = 502
    """What the server answers when this error ends a request (502: a step behind the
    server failed, as loading a model or reaching a source)."""
    openai_type: str = OpenAIType.SERVER
    api_code: str | None = None
    """The OpenAI error body's `code`; None: the class's name."""


class UsageError(HostbenchError):
    """The request itself is wrong: a bad value, an option an engine does not take."""

    exit_code = ExitCode.USAGE
    http_status = 400
    openai_type = OpenAIType.INVALID_REQUEST


class NotFoundError(HostbenchError):
    """What was named does not exist: a model, an engine, a profile, a stored run."""

    exit_code = ExitCode.NOT_FOUND
    http_status = 404
    openai_type = OpenAIType.NOT_FOUND


class UnavailableError(HostbenchError):
    """Something needed is not there right now: a server, a port, a source, an engine."""

    exit_code = ExitCode.UNAVAILABLE
    http_status = 503
    openai_type = OpenAIType.UNAVAILABLE
