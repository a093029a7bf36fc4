"""Which models exist and how to get them: catalog entries, pulls, local models."""

from catalog.entry import Architecture, CatalogEntry, GgufFile, PypiSource
from catalog.errors import (
    AccessDeniedError,
    CancelledError,
    CatalogError,
    DoesNotFitError,
    InsufficientDiskError,
    IntegrityError,
    InvalidModelFileError,
    ModelExistsError,
    ModelNotFoundError,
    QuantizeError,
    QuantNotAvailableError,
    SourceUnavailableError,
)
from catalog.gguf_info import GgufInfo, read_gguf_info
from catalog.loader import Catalog, ModelRef, load_catalog
from catalog.local import LocalModel, LocalModels, local_id
from catalog.pull import pull
from catalog.resolve import register_file, resolve_model

__all__ = [
    "AccessDeniedError",
    "Architecture",
    "CancelledError",
    "Catalog",
    "CatalogEntry",
    "CatalogError",
    "DoesNotFitError",
    "GgufFile",
    "GgufInfo",
    "InsufficientDiskError",
    "IntegrityError",
    "InvalidModelFileError",
    "LocalModel",
    "LocalModels",
    "ModelExistsError",
    "ModelNotFoundError",
    "ModelRef",
    "PypiSource",
    "QuantNotAvailableError",
    "QuantizeError",
    "SourceUnavailableError",
    "load_catalog",
    "local_id",
    "pull",
    "read_gguf_info",
    "register_file",
    "resolve_model",
]
