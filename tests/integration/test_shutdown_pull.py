"""Shutting down while a model offered on demand is still being pulled for a request: the
pull is cancelled, the request gets a 503 at once, and the server does not wait out its
graceful-shutdown time. The pull comes from a local hub that sends the real default
model's bytes slowly (a slow network)."""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.hf_hub import FakeHub, HubFile, _Handler
from tests.servers import DEFAULT_MODEL, ServerProcess

REPO = "HuggingFaceTB/SmolLM2-135M-Instruct-GGUF"
FILE = "smollm2-135m-instruct-q8_0.gguf"
GRACEFUL_S = 20


class _Trickle:
    """A socket writer that sends 64 KiB every 50 ms (about 1.3 MB/s)."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw

    def write(self, data: bytes) -> int:
        view = memoryview(data)
        for at in range(0, len(view), 64 << 10):
            self.raw.write(view[at : at + (64 << 10)])
            self.raw.flush()
            time.sleep(0.05)
        return len(data)

    def flush(self) -> None:
        self.raw.flush()


class SlowHub(FakeHub):
    def start(self) -> SlowHub:
        hub = self

        class Handler(_Handler):
            def do_GET(self) -> None:
                self.wfile = _Trickle(self.wfile)  # type: ignore[assignment]
                super().do_GET()

        Handler.hub = hub
        from http.server import ThreadingHTTPServer

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self


@pytest.fixture
def slow_hub(session_home: Path) -> Iterator[SlowHub]:
    model = session_home / "data" / "models" / DEFAULT_MODEL / "SmolLM2-135M-Instruct.Q4_1.gguf"
    hub = SlowHub(files={REPO: {FILE: HubFile(model.read_bytes())}}).start()
    yield hub
    hub.stop()


def test_shutdown_cancels_a_pull_for_a_waiting_request(tmp_path: Path, slow_hub: SlowHub) -> None:
    offered = [{"name": "slow", "model": f"{DEFAULT_MODEL}:Q8_0"}]
    env = {
        "HOSTBENCH_POOL__MODELS": json.dumps(offered),
        "HOSTBENCH_SERVER__GRACEFUL_SHUTDOWN_S": str(GRACEFUL_S),
        "HF_ENDPOINT": slow_hub.url,
        "HF_HUB_CACHE": str(tmp_path / "hf-cache"),
    }
    server = ServerProcess(tmp_path / "home", args=(), env=env, command="serve")
    answers: list[httpx.Response] = []
    try:
        server.wait_ready()
        body = {"model": "slow", "max_tokens": 2, "messages": [{"role": "user", "content": "Hi"}]}
        asking = threading.Thread(
            target=lambda: answers.append(
                httpx.post(server.openai_url + "/chat/completions", json=body, timeout=120)
            ),
            daemon=True,
        )
        asking.start()
        deadline = time.monotonic() + 60
        while not slow_hub.gets(FILE):
            assert time.monotonic() < deadline, "the pull never started"
            time.sleep(0.05)
        time.sleep(1.0)  # well into the download
        asked_at = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        code = server.proc.wait(GRACEFUL_S + 30)
        took = time.monotonic() - asked_at
        asking.join(30)
    finally:
        server.terminate()
    assert code == 0
    assert took < GRACEFUL_S / 2, f"shutdown waited {took:.1f} s for the pull"
    assert answers and answers[0].status_code == 503
    assert "shutting down" in answers[0].json()["error"]["message"]
    assert int(answers[0].headers["Retry-After"]) >= 1
    print(f"\nSIGTERM during an on-demand pull: server exited after {took:.1f} s")
