"""`hostbench search` against a local Hub serving the real default model's bytes: the search
request huggingface_hub's `list_models` would send, a fit verdict from a header read with
range requests only, the cache when the Hub is away, and a pull by the printed reference."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import httpx
import pytest

from catalog import LocalModels, load_catalog
from catalog.fit_target import subject_for
from catalog.placement import Verdict
from profiles import Locations
from storage import Store
from tests.hf_hub import DEFAULT_FILE, DEFAULT_REPO, FakeHub
from tests.servers import ServerProcess, run_cli

pytestmark = pytest.mark.integration

REFERENCE = f"hf:{DEFAULT_REPO}/{DEFAULT_FILE}"
AWAY = "http://127.0.0.1:9"
"""The discard port: nothing listens, so the connection is refused at once."""


@pytest.fixture
def hub_env(tmp_path: Path, hub: FakeHub, home: Path) -> dict[str, str]:
    return {"HF_ENDPOINT": hub.url, "HF_HUB_CACHE": str(tmp_path / "hf-cache"), "HF_TOKEN": ""}


def search(home: Path, env: dict[str, str], *args: str) -> tuple[int, dict, str]:
    done = run_cli(home, "search", "SmolLM2", "--json", *args, extra_env=env)
    return done.returncode, json.loads(done.stdout or "null"), done.stderr


def test_search_reads_only_the_header_for_its_verdict(home, hub, hub_env, model_bytes) -> None:
    code, found, _ = search(home, hub_env)
    assert code == 0 and found["cached_because"] is None
    (row,) = found["files"]
    assert (row["repo"], row["file"], row["quant"]) == (DEFAULT_REPO, DEFAULT_FILE, "Q8_0")
    assert row["fit"] in {v.value for v in Verdict} and row["reference"] == REFERENCE
    assert row["size_bytes"] == len(model_bytes)
    (asked,) = hub.searches()
    assert asked.query["search"] == ["SmolLM2"] and asked.query["filter"] == ["gguf"]
    assert "siblings" in asked.query["expand"]
    reads = hub.gets(DEFAULT_FILE)
    assert all(r.range for r in reads), "every read of the file is a range request"
    assert sum(r.body_bytes for r in reads) <= 2 << 20 < len(model_bytes) // 40


def test_offline_shows_the_cached_answer_and_says_so(home, hub, hub_env) -> None:
    assert search(home, hub_env)[0] == 0
    code, found, stderr = search(home, {**hub_env, "HF_ENDPOINT": AWAY})
    assert code == 0 and found["files"][0]["reference"] == REFERENCE
    assert "cannot reach Hugging Face" in found["cached_because"]
    assert stderr.startswith("cached results from ")
    text = run_cli(home, "search", "smollm2", extra_env={**hub_env, "HF_ENDPOINT": AWAY})
    assert REFERENCE in text.stdout and "cached results from" in text.stderr


def test_no_hub_and_no_cache_is_one_line_and_exit_4(home, hub_env) -> None:
    done = run_cli(home, "search", "smollm2", extra_env={**hub_env, "HF_ENDPOINT": AWAY})
    assert done.returncode == 4 and done.stdout == ""
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("error: cannot reach Hugging Face") and "no cached results" in line


def test_the_printed_reference_pulls_and_fits(home, hub, hub_env, model_bytes) -> None:
    done = run_cli(home, "pull", REFERENCE, "--json", extra_env=hub_env)
    assert done.returncode == 0, done.stderr
    pulled = json.loads(done.stdout)
    assert pulled["sha256"] == hashlib.sha256(model_bytes).hexdigest()
    assert (pulled["id"], pulled["repo"], pulled["quant"]) == (
        "smollm2-135m-instruct-q8_0",
        DEFAULT_REPO,
        "Q8_0",
    )
    again = run_cli(home, "pull", REFERENCE, "--json", extra_env=hub_env)
    assert again.returncode == 0 and len(hub.gets(DEFAULT_FILE)) == 1
    registry = LocalModels(Store(home / "data" / "hostbench.sqlite"))
    subject = subject_for(REFERENCE, load_catalog(), registry)
    assert subject.shape.exact and subject.note is None


def test_launch_by_the_printed_reference_pulls_it_and_serves_it(
    home, hub, hub_env, model_bytes
) -> None:
    server = ServerProcess(home, args=(REFERENCE,), env=hub_env)
    try:
        ready = server.wait_ready()
        assert ready["model"] == "smollm2-135m-instruct-q8_0", ready
        assert ready["runtime"] == "llama-server" and ready["state"] == "ready"
        body = {
            "model": ready["name"],
            "max_tokens": 4,
            "messages": [{"role": "user", "content": "Hi"}],
        }
        answer = httpx.post(server.openai_url + "/chat/completions", json=body, timeout=120)
        assert answer.status_code == 200, answer.text
        assert answer.json()["usage"]["completion_tokens"] >= 1
    finally:
        server.terminate()
    store = Store(Locations.from_env({"HOSTBENCH_HOME": str(home)}).store_path)
    model = LocalModels(store).get("smollm2-135m-instruct-q8_0")
    assert model is not None and model.origin == f"hf:{DEFAULT_REPO}"
    assert model.sha256 == hashlib.sha256(model_bytes).hexdigest()
    assert len([r for r in hub.gets(DEFAULT_FILE) if not r.range]) == 1, "pulled once, whole"
