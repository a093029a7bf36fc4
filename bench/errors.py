"""Errors of the measuring layer, one hierarchy so front ends map them to exit codes."""

from __future__ import annotations

from errors import ExitCode, HostbenchError, NotFoundError, UnavailableError, UsageError


class BenchError(HostbenchError):
    """Base of every bench error; the message is meant for the user."""


class BenchUsageError(BenchError, UsageError, ValueError):
    """Bad input: an --slo value, a prompt file, a price table file."""


class BenchNotFoundError(BenchError, NotFoundError, LookupError):
    """A stored run, or a model with no stored run, that does not exist."""


class BenchUnavailableError(BenchError, UnavailableError):
    """A target or a source that cannot be reached or does not answer properly."""


class BenchCancelled(BenchError):
    """The run was cancelled before every request finished."""

    exit_code = ExitCode.INTERRUPTED
