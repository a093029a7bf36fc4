"""The CLI's one mapping from errors to exit codes (the codes themselves: errors/)."""

from __future__ import annotations

from errors import ExitCode, HostbenchError, UsageError


class CliUsageError(UsageError, ValueError):
    """Bad input a front end finds itself (an output path it cannot write): exit 2."""


def exit_code_for(error: BaseException) -> ExitCode:
    """The exit code an error declares (errors/); a pydantic ValidationError is bad input,
    Ctrl-C an interruption, anything else a plain failure."""
    from pydantic import ValidationError

    if isinstance(error, HostbenchError):
        return error.exit_code
    if isinstance(error, KeyboardInterrupt):
        return ExitCode.INTERRUPTED
    if isinstance(error, ValidationError):
        return ExitCode.USAGE
    return ExitCode.ERROR
