"""What can go wrong when finding, fetching and registering models."""

from __future__ import annotations


class CatalogError(Exception):
    """Base of catalog errors; the message is one line a user can act on."""


class ModelNotFoundError(CatalogError):
    """A model reference matches no catalog entry, local model or file."""

    def __init__(self, reference: str, suggestions: list[str]) -> None:
        hint = f"; did you mean {', '.join(suggestions)}?" if suggestions else ""
        super().__init__(f"no model {reference!r} in the catalog or among local models{hint}")
        self.reference = reference
        self.suggestions = suggestions


class QuantNotAvailableError(CatalogError):
    """The catalog entry has no file of the requested quantization."""


class SourceUnavailableError(CatalogError):
    """The file's source could not be reached or did not contain the file."""


class IntegrityError(CatalogError):
    """A downloaded file's sha256 differs from the published one; it was not kept."""


class InsufficientDiskError(CatalogError):
    """Not enough free disk for the file; checked before downloading anything."""


class InvalidModelFileError(CatalogError):
    """A file is not a readable GGUF model."""


class CancelledError(CatalogError):
    """The operation was cancelled by the user; partial files were removed."""


class AccessDeniedError(CatalogError):
    """The source refused access (a gated or private repo); the message says how to get it."""


class DoesNotFitError(CatalogError):
    """The model cannot run in this machine's free memory with the chosen options."""


class QuantizeError(CatalogError):
    """llama.cpp's quantizer failed or its output did not load."""
