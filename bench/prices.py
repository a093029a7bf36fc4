"""The hosted-API price table (USD per 1M tokens, dated, with its source) and which of its
entries are hosted copies of a catalog model.

The table ships in `bench/data/hosted_prices.json` (a snapshot of LiteLLM's public price
table). `update_price_table` writes a refreshed copy into the user's data dir, validated
first and replaced atomically, so a bad download never breaks what worked; the shipped
file is never written. LiteLLM's own file (per-token prices) is accepted and converted.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from bench.errors import BenchUnavailableError, BenchUsageError

UNITS = "USD per 1M tokens"
PRICE_FIELDS = ("input_usd_per_mtok", "output_usd_per_mtok", "cached_input_usd_per_mtok")


class PriceTableError(BenchUsageError):
    """A price table that cannot be read or does not have the expected shape."""


class PriceSourceError(BenchUnavailableError):
    """A price table URL that cannot be fetched."""


@dataclass(frozen=True)
class HostedPrice:
    key: str
    provider: str
    input_usd_per_mtok: float
    output_usd_per_mtok: float
    cached_input_usd_per_mtok: float | None = None
    max_input_tokens: int | None = None
    deprecation_date: str | None = None


@dataclass(frozen=True)
class PriceTable:
    source: str
    retrieved: str
    prices: Mapping[str, HostedPrice]
    path: str
    """Where it was read from (the shipped file, or the user's refreshed copy)."""

    def get(self, key: str) -> HostedPrice | None:
        return self.prices.get(key)

    def search(self, term: str | None = None, provider: str | None = None) -> list[HostedPrice]:
        """Entries whose key or provider contains `term` (case-insensitive), by key."""
        needle = (term or "").lower()
        found = [
            p
            for p in self.prices.values()
            if (needle in p.key.lower() or needle in p.provider.lower())
            and (provider is None or p.provider == provider)
        ]
        return sorted(found, key=lambda p: p.key)

    def to_json(self) -> dict[str, Any]:
        models = {}
        for price in self.prices.values():
            row = {k: v for k, v in vars(price).items() if k != "key" and v is not None}
            models[price.key] = row
        return {
            "source": self.source,
            "retrieved": self.retrieved,
            "units": UNITS,
            "models": models,
        }


def user_table_path(data_dir: Path) -> Path:
    """A refreshed table, used instead of the shipped one while it is valid."""
    return data_dir / "hosted_prices.json"


def shipped_table_text() -> str:
    return resources.files("bench").joinpath("data/hosted_prices.json").read_text("utf-8")


def load_price_table(user_file: Path | None = None) -> PriceTable:
    """The user's refreshed table where one exists and is valid, else the shipped one."""
    if user_file is not None and user_file.exists():
        try:
            return parse_table(json.loads(user_file.read_text("utf-8")), str(user_file))
        except (OSError, ValueError):
            pass  # a damaged refresh: the shipped table still works
    return parse_table(json.loads(shipped_table_text()), "shipped: bench/data/hosted_prices.json")


def parse_table(data: Any, path: str) -> PriceTable:
    """Validate our format: source, retrieved date, units, and a price per model."""
    if not isinstance(data, dict) or not isinstance(data.get("models"), dict):
        raise PriceTableError(f"{path}: expected an object with 'models'")
    if data.get("units") != UNITS:
        raise PriceTableError(f"{path}: units must be {UNITS!r}, not {data.get('units')!r}")
    for field in ("source", "retrieved"):
        if not isinstance(data.get(field), str) or not data[field].strip():
            raise PriceTableError(f"{path}: '{field}' is required (where and when it was taken)")
    prices = {key: _price(path, key, row) for key, row in data["models"].items()}
    if not prices:
        raise PriceTableError(f"{path}: no prices")
    return PriceTable(data["source"], data["retrieved"], prices, path)


def _price(path: str, key: str, row: Any) -> HostedPrice:
    if not isinstance(row, dict) or not isinstance(row.get("provider"), str):
        raise PriceTableError(f"{path}: {key}: needs a provider")
    values = {}
    for field in PRICE_FIELDS:
        value = row.get(field)
        if value is None and field.startswith("cached"):
            continue
        if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
            raise PriceTableError(f"{path}: {key}: {field} must be a number >= 0, not {value!r}")
        values[field] = float(value)
    return HostedPrice(
        key=key,
        provider=row["provider"],
        max_input_tokens=row.get("max_input_tokens"),
        deprecation_date=row.get("deprecation_date"),
        **values,
    )


def from_litellm(raw: Mapping[str, Any], source: str, retrieved: str) -> dict[str, Any]:
    """LiteLLM's model_prices_and_context_window.json (USD per token) in our format:
    chat models with both prices, per 1M tokens."""
    models = {}
    for key, row in raw.items():
        if not isinstance(row, dict) or row.get("mode") != "chat":
            continue
        inp, out = row.get("input_cost_per_token"), row.get("output_cost_per_token")
        if not isinstance(inp, int | float) or not isinstance(out, int | float):
            continue
        entry: dict[str, Any] = {
            "provider": str(row.get("litellm_provider") or "unknown"),
            "input_usd_per_mtok": round(inp * 1e6, 6),
            "output_usd_per_mtok": round(out * 1e6, 6),
        }
        cached = row.get("cache_read_input_token_cost")
        if isinstance(cached, int | float):
            entry["cached_input_usd_per_mtok"] = round(cached * 1e6, 6)
        for field in ("max_input_tokens", "deprecation_date"):
            if row.get(field) is not None:
                entry[field] = row[field]
        models[key] = entry
    return {"source": source, "retrieved": retrieved, "units": UNITS, "models": models}


def read_source(source: str, timeout_s: float = 30.0) -> Any:
    """JSON from a file path or an http(s) URL."""
    if urlparse(source).scheme in ("http", "https"):
        import httpx

        try:
            response = httpx.get(source, timeout=timeout_s, follow_redirects=True)
            response.raise_for_status()
            return response.json()
        except (httpx.HTTPError, ValueError) as error:
            raise PriceSourceError(f"cannot fetch {source}: {error}") from None
    try:
        return json.loads(Path(source).expanduser().read_text("utf-8"))
    except (OSError, ValueError) as error:
        raise PriceTableError(f"cannot read {source}: {error}") from None


def update_price_table(source: str, dest: Path, today: dt.date | None = None) -> PriceTable:
    """Fetch, convert if it is LiteLLM's file, validate, then replace `dest` atomically."""
    data = read_source(source)
    if isinstance(data, dict) and "models" not in data:
        data = from_litellm(
            data, f"LiteLLM price table from {source}", str(today or dt.date.today())
        )
    table = parse_table(data, source)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".hosted_prices.", dir=dest.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(table.to_json(), handle, indent=1)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return PriceTable(table.source, table.retrieved, table.prices, str(dest))


@dataclass(frozen=True)
class HostedOffers:
    """Frontier APIs to compare against, and hosted copies of catalog models."""

    frontier: tuple[str, ...]
    same_model: Mapping[str, tuple[str, ...]]
    retrieved: str

    @classmethod
    def load(cls) -> HostedOffers:
        text = resources.files("bench").joinpath("data/hosted_offers.json").read_text("utf-8")
        data = json.loads(text)
        same = {k: tuple(v) for k, v in data["same_model"].items()}
        return cls(tuple(data["frontier"]), same, data["retrieved"])

    def copies_of(self, catalog_id: str | None) -> tuple[str, ...]:
        return self.same_model.get(catalog_id or "", ())


PROVIDER_HOSTS = {
    "api.openai.com": ("openai",),
    "api.anthropic.com": ("anthropic",),
    "generativelanguage.googleapis.com": ("gemini",),
    "api.together.xyz": ("together_ai",),
    "api.fireworks.ai": ("fireworks_ai",),
    "api.deepinfra.com": ("deepinfra",),
    "api.groq.com": ("groq",),
    "api.cerebras.ai": ("cerebras",),
    "api.studio.nebius.com": ("nebius",),
    "api.novita.ai": ("novita",),
    "api.mistral.ai": ("mistral",),
}
"""API hosts of the providers in the table, to tell which price a benchmarked endpoint has."""


def providers_of(base_url: str) -> tuple[str, ...]:
    return PROVIDER_HOSTS.get(urlparse(base_url).hostname or "", ())


def matches_offer(price: HostedPrice, base_url: str, model: str) -> bool:
    """Whether a bench run against `base_url` with `model` measured this hosted offer."""
    if price.provider not in providers_of(base_url):
        return False
    return price.key == model or price.key.endswith("/" + model)


def price_keys(table: PriceTable, keys: Iterable[str]) -> list[HostedPrice]:
    """The prices for `keys` that the table has, in order (a refreshed table may lack some)."""
    return [p for key in keys if (p := table.get(key)) is not None]
