"""Speculative decoding for real: the default model served with itself as its draft (the
only GGUF the tests have) answers, and llama-server's acceptance reaches the hostbench
server's /metrics."""

from __future__ import annotations

from pathlib import Path

import httpx

from bench.speculative import from_metrics, from_timings
from tests.servers import DEFAULT_MODEL, ServerProcess


def test_the_default_model_drafting_for_itself_answers_and_reports_acceptance(
    session_home: Path,
) -> None:
    args = (DEFAULT_MODEL, "--draft-model", DEFAULT_MODEL, "--draft-max", "4", "--parallel", "1")
    process = ServerProcess(session_home, args=args)
    try:
        ready = process.wait_ready()
        assert ready["runtime"] == "llama-server"
        body = {
            "model": DEFAULT_MODEL,
            "messages": [{"role": "user", "content": "Count from 1 to 10."}],
            "max_tokens": 24,
            "temperature": 0,
        }
        answer = httpx.post(f"{process.openai_url}/chat/completions", json=body, timeout=300)
        assert answer.status_code == 200, answer.text
        assert answer.json()["choices"][0]["message"]["content"]
        metrics = httpx.get(f"{process.base_url}/metrics", timeout=30).text
    finally:
        process.terminate()
    acceptance = from_metrics(metrics)
    assert acceptance is not None and acceptance.drafted > 0, metrics
    assert acceptance.rate is not None and 0 < acceptance.rate <= 1
    timings = answer.json().get("timings")
    if timings is not None:  # the gateway passes llama-server's timings through
        assert from_timings(timings) is not None
