"""The last answer to each Hub search, kept on disk so a search works offline.

One JSON file per query (lower case, spaces folded) and limit, written whole and atomically;
a file that cannot be read is treated as absent. The caller passes the directory
(`profiles.Locations.hub_search_dir`): the catalog knows nothing of locations.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import replace
from pathlib import Path

from catalog.errors import SourceUnavailableError
from catalog.fit import FitOptions
from catalog.hub_search import DEFAULT_LIMIT, HubSearch, search_hub
from catalog.placement import Devices


class SearchCache:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path_for(self, query: str, limit: int) -> Path:
        key = f"{' '.join(query.lower().split())}\n{limit}"
        return self.directory / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.json"

    def save(self, search: HubSearch, limit: int) -> None:
        from pydantic import TypeAdapter

        self.directory.mkdir(parents=True, exist_ok=True)
        data = TypeAdapter(HubSearch).dump_json(search, indent=1)
        with tempfile.NamedTemporaryFile(dir=self.directory, delete=False) as handle:
            handle.write(data)
        os.replace(handle.name, self.path_for(search.query, limit))

    def load(self, query: str, limit: int) -> HubSearch | None:
        from pydantic import TypeAdapter, ValidationError

        try:
            data = self.path_for(query, limit).read_bytes()
            return TypeAdapter(HubSearch).validate_json(data)
        except (OSError, ValidationError):
            return None


def search_or_cached(
    query: str,
    cache: SearchCache,
    options: FitOptions,
    devices: Devices,
    *,
    limit: int = DEFAULT_LIMIT,
) -> HubSearch:
    """A fresh search (then cached); when the Hub cannot be reached, the cached answer with
    the reason, else the failure, saying no results are cached."""
    try:
        found = search_hub(query, options, devices, limit=limit)
    except SourceUnavailableError as error:
        cached = cache.load(query, limit)
        if cached is None:
            raise SourceUnavailableError(f"{error}; no cached results for {query!r}") from error
        return replace(cached, cached_because=str(error))
    cache.save(found, limit)
    return found
