"""vLLM for real: launched by hostbench on a machine with an NVIDIA GPU, vLLM installed
(`pip install 'hostbench[vllm]'`) and Hugging Face reachable. Skipped everywhere else.

Run on a GPU machine:  python -m pytest -m gpu tests/integration/test_vllm_gpu.py
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tests.gpus import nvidia_gpus
from tests.servers import ServerProcess, run_cli

MODEL = "qwen2.5-0.5b-instruct"
"""Served from its Hugging Face repo, Qwen/Qwen2.5-0.5B-Instruct (about 1 GB in bf16)."""
OPTIONS = ("--engine", "vllm", "--max-model-len", "2048", "--gpu-memory-utilization", "0.5")

pytestmark = [pytest.mark.gpu, pytest.mark.integration]


@pytest.fixture(scope="module")
def vllm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    if importlib.util.find_spec("vllm") is None:
        pytest.skip("vLLM is not installed (pip install 'hostbench[vllm]')")
    if not nvidia_gpus():
        pytest.skip("no NVIDIA GPU with a working driver on this machine")
    home = tmp_path_factory.mktemp("vllm-home")
    server = ServerProcess(
        home, args=(MODEL, *OPTIONS), env={"HOSTBENCH_ENGINES__READY_TIMEOUT_S": "900"}
    )
    server.wait_ready(timeout_s=1200)
    yield server
    server.terminate()


def test_vllm_answers_through_the_gateway(vllm_server: ServerProcess) -> None:
    assert vllm_server.ready["runtime"] == "vllm"
    client = openai.OpenAI(base_url=vllm_server.openai_url, api_key="-", max_retries=0)
    answer = client.chat.completions.create(
        model=MODEL, max_tokens=16, messages=[{"role": "user", "content": "Say hello."}]
    )
    assert answer.choices[0].message.content
    stream = client.chat.completions.create(
        model=MODEL, max_tokens=16, stream=True, stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "Count to five."}],
    )  # fmt: skip
    usage = [chunk.usage for chunk in stream if chunk.usage]
    assert usage and usage[-1].completion_tokens > 0


def test_ps_shows_the_reservation_and_the_kv_cache(vllm_server: ServerProcess) -> None:
    (engine,) = json.loads(
        run_cli(vllm_server.home, "ps", "--port", str(vllm_server.port), "--json").stdout
    )
    total = min(g.memory_total_bytes or 0 for g in nvidia_gpus())
    assert engine["memory_bytes"] == pytest.approx(0.5 * total, rel=0.01)
    live = engine["live"]
    assert live["kv_cache_capacity_tokens"] > 2048 and 0 <= live["kv_cache_usage_ratio"] <= 1


def test_export_of_the_same_launch_parses(vllm_server: ServerProcess, tmp_path: Path) -> None:
    done = run_cli(vllm_server.home, "export", MODEL, "--to", "compose", *OPTIONS)
    assert done.returncode == 0, done.stderr
    assert "vllm/vllm-openai" in done.stdout
