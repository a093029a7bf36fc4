"""What can go wrong when finding, fetching and registering models."""

from __future__ import annotations

from errors import ExitCode, HostbenchError, NotFoundError, OpenAIType, UsageError


class CatalogError(HostbenchError):
    """Base of catalog errors; the message is one line a user can act on."""


class ModelNotFoundError(CatalogError, NotFoundError):
    """A model reference matches no catalog entry, local model or file."""

    def __init__(self, reference: str, suggestions: list[str]) -> None:
        hint = f"; did you mean {', '.join(suggestions)}?" if suggestions else ""
        super().__init__(f"no model {reference!r} in the catalog or among local models{hint}")
        self.reference = reference
        self.suggestions = suggestions


class QuantNotAvailableError(CatalogError, NotFoundError):
    """The catalog entry has no file of the requested quantization."""


class SourceUnavailableError(CatalogError):
    """The file's source could not be reached or did not contain the file."""

    exit_code = ExitCode.UNAVAILABLE


class IntegrityError(CatalogError):
    """A downloaded file's sha256 differs from the published one; it was not kept."""

    exit_code = ExitCode.INTEGRITY


class InsufficientDiskError(CatalogError):
    """Not enough free disk for the file; checked before downloading anything."""

    exit_code = ExitCode.NO_SPACE
    http_status = 507


class InvalidModelFileError(CatalogError, UsageError):
    """A file is not a readable GGUF model."""


class CancelledError(CatalogError):
    """The operation was cancelled by the user; partial files were removed."""

    exit_code = ExitCode.INTERRUPTED


class AccessDeniedError(CatalogError):
    """The source refused access (a gated or private repo); the message says how to get it."""

    exit_code = ExitCode.ACCESS_DENIED
    http_status = 403
    openai_type = OpenAIType.INVALID_REQUEST


class DoesNotFitError(CatalogError):
    """The model cannot run in this machine's free memory with the chosen options."""

    exit_code = ExitCode.DOES_NOT_FIT
    http_status = 507


class QuantizeError(CatalogError):
    """llama.cpp's quantizer failed or its output did not load."""


class ModelExistsError(CatalogError, UsageError):
    """A new model would take an id (or a file) that another local model already has."""
