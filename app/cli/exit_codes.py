"""Exit codes: one per kind of failure, mapped from the core's exceptions."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
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


def exit_code_for(error: BaseException) -> ExitCode:
    """The exit code for a core error; unknown errors are plain failures."""
    from pydantic import ValidationError

    from catalog import (
        AccessDeniedError,
        CancelledError,
        DoesNotFitError,
        InsufficientDiskError,
        IntegrityError,
        InvalidModelFileError,
        ModelNotFoundError,
        QuantNotAvailableError,
        SourceUnavailableError,
    )
    from engines.control_client import ControlError
    from engines.errors import (
        EngineExistsError,
        EngineNotFoundError,
        EngineStartError,
        EngineUnavailableError,
        InsecureBindError,
        PortInUseError,
        UnknownEngineError,
        UnsupportedOptionError,
    )
    from profiles.library import ProfileError

    table: tuple[tuple[type[BaseException], ExitCode], ...] = (
        (
            (ModelNotFoundError, QuantNotAvailableError, EngineNotFoundError, ProfileError),
            ExitCode.NOT_FOUND,
        ),
        ((AccessDeniedError,), ExitCode.ACCESS_DENIED),
        ((DoesNotFitError,), ExitCode.DOES_NOT_FIT),
        (
            (UnknownEngineError, InvalidModelFileError, InsecureBindError, UnsupportedOptionError),
            ExitCode.USAGE,
        ),
        (
            (PortInUseError, EngineUnavailableError, SourceUnavailableError, EngineExistsError),
            ExitCode.UNAVAILABLE,
        ),
        ((IntegrityError,), ExitCode.INTEGRITY),
        ((InsufficientDiskError,), ExitCode.NO_SPACE),
        ((EngineStartError,), ExitCode.LAUNCH_FAILED),
        ((CancelledError, KeyboardInterrupt), ExitCode.INTERRUPTED),
    )
    for kinds, code in table:
        if isinstance(error, kinds):
            return code
    if isinstance(error, ControlError):
        return _BY_HTTP_STATUS.get(error.status, ExitCode.ERROR)
    if isinstance(error, ValidationError):
        return ExitCode.USAGE
    return ExitCode.ERROR


_BY_HTTP_STATUS = {
    400: ExitCode.USAGE,
    404: ExitCode.NOT_FOUND,
    409: ExitCode.UNAVAILABLE,
    502: ExitCode.LAUNCH_FAILED,
    507: ExitCode.NO_SPACE,
}
