"""The README's exit-code table and the code are one list (`ExitCode`), and each row is what
a real command exits with in that situation."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.cli import main
from catalog import LocalModel, LocalModels
from engines.process import free_port
from errors import ExitCode
from profiles import Locations
from storage import Store
from tests.gguf_files import write_tiny_gguf
from tests.hf_hub import FakeHub, HubFile
from tests.servers import ROOT, hostbench_env, run_cli

README = ROOT / "README.md"
REPO = "HuggingFaceTB/SmolLM2-135M-Instruct-GGUF"
FILE = "smollm2-135m-instruct-q8_0.gguf"
PULLED = "smollm2-135m-instruct:Q8_0"


def readme_codes() -> dict[int, str]:
    text = " ".join(README.read_text().split())
    line = re.search(r"CLI exit codes: (.*?)\.", text)
    assert line, "the README's exit-code sentence"
    found = re.findall(r"(\d+) ([a-z ]+?)(?: \([^)]*\))?(?:,|$)", line.group(1))
    return {int(code): words.strip() for code, words in found}


def test_the_readme_lists_exactly_the_exit_codes() -> None:
    listed = readme_codes()
    assert {code.value: code.name.lower().replace("_", " ") for code in ExitCode} == {
        code: words.replace("no disk space", "no space") for code, words in listed.items()
    }


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    data = write_tiny_gguf(tmp_path / "hub.gguf").read_bytes()
    served = FakeHub(files={REPO: {FILE: HubFile(data)}}).start()
    monkeypatch.setenv("HF_ENDPOINT", served.url)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    yield served
    served.stop()


def register(path: Path, model_id: str) -> None:
    registry = LocalModels(Store(Locations.from_env().ensure().store_path))
    registry.register(
        LocalModel(
            id=model_id, path=path, sha256="0" * 64, size_bytes=path.stat().st_size,
            origin=f"file:{path}", quant="F32",
        )
    )  # fmt: skip


def test_ok_error_usage_not_found_unavailable(home: Path, tmp_path: Path) -> None:
    assert main(["models"]) == ExitCode.OK
    path = write_tiny_gguf(tmp_path / "tiny.gguf")
    register(path, "tiny")
    register(path, "tiny-q8")
    assert main(["quantize", "tiny", "--to", "Q8_0", "--id", "tiny-q8"]) == ExitCode.USAGE
    assert main(["quantize", "tiny", "--to", "Q8_0", "--id", "tiny-q8-new"]) == ExitCode.ERROR
    with pytest.raises(SystemExit) as usage:
        main(["fit", "tiny", "--ctx", "many"])
    assert usage.value.code == ExitCode.USAGE
    assert main(["fit", "qwen9-1b"]) == ExitCode.NOT_FOUND
    assert main(["ps", "--port", str(free_port())]) == ExitCode.UNAVAILABLE


def test_integrity_no_space_and_access_denied(home: Path, hub: FakeHub) -> None:
    hub.files[REPO][FILE].corrupt_at = 10
    assert main(["pull", PULLED]) == ExitCode.INTEGRITY
    hub.files[REPO][FILE].corrupt_at = None
    hub.files[REPO][FILE].advertised_size = 1 << 60
    assert main(["pull", PULLED]) == ExitCode.NO_SPACE
    hub.gated.add(REPO)
    assert main(["pull", PULLED]) == ExitCode.ACCESS_DENIED


def test_launch_failed(home: Path, tmp_path: Path) -> None:
    path = write_tiny_gguf(tmp_path / "tiny.gguf")
    command = f"{sys.executable} -c 'import sys; sys.exit(3)'"
    done = run_cli(
        home, "launch", str(path), "--engine", "openai-compatible", "--command", command,
        "--port", str(free_port()), timeout=120,
    )  # fmt: skip
    assert done.returncode == ExitCode.LAUNCH_FAILED, done.stderr
    assert "Traceback" not in done.stderr


def test_does_not_fit(home: Path) -> None:
    machine = ROOT / "docs" / "machines" / "rtx5090.json"
    argv = ["fit", "gpt-oss-120b", "--no-remote", "--machine", str(machine)]
    assert main(argv) == ExitCode.DOES_NOT_FIT


def test_interrupted(home: Path, hub: FakeHub) -> None:
    """Ctrl-C during a pull that keeps being dropped (and retried with backoff)."""
    hub.files[REPO][FILE].drop_at = [8] * 50
    proc = subprocess.Popen(
        [sys.executable, "-m", "app", "pull", PULLED], cwd=ROOT, env=hostbench_env(home, {
            "HF_ENDPOINT": hub.url, "HF_HUB_CACHE": str(home / "hf-cache")}),
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not hub.gets(FILE) and time.monotonic() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == ExitCode.INTERRUPTED, err
    assert "Traceback" not in err
