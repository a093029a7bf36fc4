"""The hosted price table: shipped copy, validation, refresh (file, LiteLLM format, URL),
and the offers mapping."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.prices import (
    UNITS,
    HostedOffers,
    PriceSourceError,
    PriceTableError,
    load_price_table,
    matches_offer,
    providers_of,
    update_price_table,
)

SHARED = Path("/work/shared/data/hosted_prices.json")


def test_shipped_table_is_dated_sourced_and_complete() -> None:
    table = load_price_table()
    assert table.retrieved == "2026-11-27"
    assert "LiteLLM" in table.source
    assert len(table.prices) > 1000
    gpt = table.get("gpt-5.4")
    assert gpt is not None and (gpt.input_usd_per_mtok, gpt.output_usd_per_mtok) == (2.5, 15.0)


def test_every_mapped_offer_is_in_the_table() -> None:
    table, offers = load_price_table(), HostedOffers.load()
    keys = [*offers.frontier, *(k for keys in offers.same_model.values() for k in keys)]
    assert [k for k in keys if table.get(k) is None] == []
    providers = {table.prices[k].provider for k in offers.frontier}
    assert {"openai", "anthropic", "gemini"} <= providers
    llama = {table.prices[k].provider for k in offers.copies_of("llama-3.1-8b-instruct")}
    assert {"together_ai", "deepinfra"} <= llama
    assert offers.copies_of("smollm2-135m-instruct") == ()


def ours(models: dict) -> dict:
    return {"source": "a test", "retrieved": "2026-12-01", "units": UNITS, "models": models}


def test_update_from_a_file_takes_precedence_and_never_touches_the_shipped_one(
    tmp_path: Path,
) -> None:
    source = tmp_path / "prices.json"
    row = {"provider": "openai", "input_usd_per_mtok": 1.0, "output_usd_per_mtok": 2.0}
    source.write_text(json.dumps(ours({"gpt-x": row})))
    dest = tmp_path / "data" / "hosted_prices.json"
    table = update_price_table(str(source), dest)
    assert table.path == str(dest) and list(table.prices) == ["gpt-x"]
    assert load_price_table(dest).get("gpt-x") is not None
    assert load_price_table(None).get("gpt-x") is None  # shipped table unchanged


@pytest.mark.parametrize(
    ("models", "message"),
    [
        ({"x": {"provider": "p", "input_usd_per_mtok": -1, "output_usd_per_mtok": 1}}, ">= 0"),
        ({"x": {"input_usd_per_mtok": 1, "output_usd_per_mtok": 1}}, "provider"),
        ({"x": {"provider": "p", "input_usd_per_mtok": "1", "output_usd_per_mtok": 1}}, "number"),
        ({}, "no prices"),
    ],
)
def test_a_bad_table_is_refused_and_the_old_one_kept(
    tmp_path: Path, models: dict, message: str
) -> None:
    dest = tmp_path / "hosted_prices.json"
    good = {"provider": "p", "input_usd_per_mtok": 1, "output_usd_per_mtok": 1}
    source = tmp_path / "good.json"
    source.write_text(json.dumps(ours({"kept": good})))
    update_price_table(str(source), dest)
    source.write_text(json.dumps(ours(models)))
    with pytest.raises(PriceTableError, match=message):
        update_price_table(str(source), dest)
    assert list(load_price_table(dest).prices) == ["kept"]


def test_missing_date_or_wrong_units_are_refused(tmp_path: Path) -> None:
    source = tmp_path / "p.json"
    row = {"provider": "p", "input_usd_per_mtok": 1, "output_usd_per_mtok": 1}
    source.write_text(json.dumps({**ours({"x": row}), "retrieved": ""}))
    with pytest.raises(PriceTableError, match="retrieved"):
        update_price_table(str(source), tmp_path / "d.json")
    source.write_text(json.dumps({**ours({"x": row}), "units": "USD per token"}))
    with pytest.raises(PriceTableError, match="units"):
        update_price_table(str(source), tmp_path / "d.json")


LITELLM = {
    "sample_spec": {"mode": "chat", "input_cost_per_token": 0.0},
    "gpt-4o-mini": {
        "litellm_provider": "openai",
        "mode": "chat",
        "input_cost_per_token": 1.5e-7,
        "output_cost_per_token": 6e-7,
        "cache_read_input_token_cost": 7.5e-8,
        "max_input_tokens": 128000,
    },
    "text-embedding-3-small": {
        "litellm_provider": "openai",
        "mode": "embedding",
        "input_cost_per_token": 2e-8,
        "output_cost_per_token": 0.0,
    },
}


@pytest.fixture
def litellm_url(tmp_path: Path) -> Iterator[str]:
    """LiteLLM's file format, served over HTTP on loopback."""
    (tmp_path / "prices.json").write_text(json.dumps(LITELLM))

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
            super().__init__(*args, directory=str(tmp_path), **kwargs)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/prices.json"
    finally:
        server.shutdown()


def test_update_from_litellm_over_http_converts_to_per_million(
    litellm_url: str, tmp_path: Path
) -> None:
    dest = tmp_path / "out.json"
    table = update_price_table(litellm_url, dest, today=dt.date(2026, 12, 2))
    assert list(table.prices) == ["gpt-4o-mini"]  # chat models with both prices only
    price = table.prices["gpt-4o-mini"]
    assert (price.input_usd_per_mtok, price.output_usd_per_mtok) == (0.15, 0.6)
    assert price.cached_input_usd_per_mtok == 0.075
    assert table.retrieved == "2026-12-02" and litellm_url in table.source


def test_an_unreachable_url_is_reported(tmp_path: Path, litellm_url: str) -> None:
    with pytest.raises(PriceSourceError, match="cannot fetch"):
        update_price_table(litellm_url.replace("prices.json", "nope.json"), tmp_path / "d.json")


def test_search_and_offer_matching() -> None:
    table = load_price_table()
    found = table.search("llama-3.1-8b", provider="deepinfra")
    assert [p.provider for p in found] == ["deepinfra", "deepinfra"]
    gpt = table.prices["gpt-5.4"]
    assert providers_of("https://api.openai.com/v1") == ("openai",)
    assert matches_offer(gpt, "https://api.openai.com/v1", "gpt-5.4")
    assert not matches_offer(gpt, "http://127.0.0.1:8080/v1", "gpt-5.4")
    together = table.prices["together_ai/meta-llama/Meta-Llama-3.1-8B-Instruct-Turbo"]
    url = "https://api.together.xyz/v1"
    assert matches_offer(together, url, "meta-llama/Meta-Llama-3.1-8B-Instruct-Turbo")


@pytest.mark.skipif(not SHARED.exists(), reason="the shared data dir is not on this machine")
def test_the_shipped_table_is_the_shared_snapshot() -> None:
    shipped = Path(__file__).resolve().parents[3] / "bench" / "data" / "hosted_prices.json"
    assert json.loads(shipped.read_text()) == json.loads(SHARED.read_text())
