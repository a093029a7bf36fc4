"""A pool model larger than the whole memory budget is refused with 507 before anything is
downloaded (it used to be pulled first: a 4.7 GB download only to be refused, or a 502 when
the Hub was out of reach). A real server; the Hub is the local one, which records requests."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.hf_hub import FakeHub
from tests.servers import ServerProcess


@pytest.fixture
def hub() -> Iterator[FakeHub]:
    served = FakeHub().start()
    yield served
    served.stop()


def test_a_model_larger_than_the_budget_is_refused_before_the_pull(
    home: Path, tmp_path: Path, hub: FakeHub
) -> None:
    models = [{"name": "big", "model": "qwen2.5-7b-instruct"}]
    env = {
        "HOSTBENCH_POOL__MODELS": json.dumps(models),
        "HOSTBENCH_POOL__MEMORY_BUDGET_GIB": "0.35",
        "HF_ENDPOINT": hub.url,
        "HF_HUB_CACHE": str(tmp_path / "hf-cache"),
    }
    server = ServerProcess(home, args=(), env=env, command="serve")
    try:
        server.wait_ready()
        body = {"model": "big", "messages": [{"role": "user", "content": "Hi"}]}
        answer = httpx.post(f"{server.openai_url}/chat/completions", json=body, timeout=60)
    finally:
        server.terminate()
    assert answer.status_code == 507, answer.text
    error = answer.json()["error"]
    assert error["code"] == "insufficient_memory" and "not downloaded" in error["message"]
    assert hub.served == [], "nothing was asked of the Hub"
