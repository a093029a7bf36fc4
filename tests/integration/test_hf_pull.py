"""Pulls from Hugging Face, against a local hub serving the real default model's bytes:
clean, interrupted and resumed, corrupted, missing, gated, too big for the disk, retried."""

from __future__ import annotations

import hashlib
import json
import random
import threading
from pathlib import Path

import pytest

from app.cli import main
from catalog import (
    AccessDeniedError,
    CancelledError,
    InsufficientDiskError,
    IntegrityError,
    LocalModels,
    SourceUnavailableError,
    load_catalog,
    pull,
)
from catalog.fit_target import subject_for
from catalog.sources.hf import Retry
from errors import ExitCode
from storage import Store
from tests.hf_hub import DEFAULT_FILE, DEFAULT_REPO, FakeHub
from tests.servers import DEFAULT_MODEL, run_cli

pytestmark = pytest.mark.integration

REPO, FILE = DEFAULT_REPO, DEFAULT_FILE
QUANT = "Q8_0"
FAST = Retry(attempts=3, base_s=0.01)


@pytest.fixture
def hf_cache(tmp_path: Path, hub: FakeHub, home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "hf-cache"
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    return cache


@pytest.fixture
def registry(home: Path) -> LocalModels:
    return LocalModels(Store(home / "store.sqlite"))


def pull_q8(registry: LocalModels, home: Path, **kwargs) -> object:
    entry = load_catalog().get(DEFAULT_MODEL)
    gguf = entry.gguf_file(QUANT)
    return pull(entry, gguf, registry, home / "models", retry=FAST, **kwargs)


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def blobs(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.rglob("blobs/*"))


def test_clean_pull_lands_in_the_hf_cache(hf_cache, hub, registry, home, model_bytes) -> None:
    seen: list[tuple[int, int]] = []
    model = pull_q8(registry, home, progress=lambda d, t: seen.append((d, t)))
    assert model.sha256 == digest(model_bytes)
    assert model.path.is_relative_to(hf_cache / f"models--{REPO.replace('/', '--')}")
    assert model.path.resolve().name == digest(model_bytes)
    assert (model.origin, model.quant, model.catalog_id) == (f"hf:{REPO}", QUANT, DEFAULT_MODEL)
    assert model.lineage["commit"] and model.lineage["downloaded_bytes"] == len(model_bytes)
    assert seen[-1][0] == len(model_bytes)
    assert [g.range for g in hub.gets(FILE)] == [None]
    assert registry.get(f"{DEFAULT_MODEL}:{QUANT}") == model


def test_a_file_in_the_cache_is_found_offline(hf_cache, hub, registry, home, model_bytes) -> None:
    pull_q8(registry, home)
    registry.forget(f"{DEFAULT_MODEL}:{QUANT}")
    hub.stop()
    again = pull_q8(registry, home)
    assert again.sha256 == digest(model_bytes) and again.lineage["downloaded_bytes"] == 0
    assert len(hub.gets(FILE)) == 1


def test_a_dropped_connection_resumes(hf_cache, hub, registry, home, model_bytes) -> None:
    cut = random.Random(4).randrange(20 << 20, len(model_bytes) - (1 << 20))
    hub.files[REPO][FILE].drop_at.append(cut)
    model = pull_q8(registry, home)
    assert model.sha256 == digest(model_bytes)
    first, second = hub.gets(FILE)
    assert first.range is None
    resumed_at = int(second.range.removeprefix("bytes=").rstrip("-"))
    assert 0 < resumed_at <= cut


def test_an_interrupted_pull_resumes_from_its_partial_file(
    hf_cache, hub, registry, home, model_bytes
) -> None:
    cancel = threading.Event()

    def stop_midway(done: int, total: int) -> None:
        if done > 30 << 20:
            cancel.set()

    with pytest.raises(CancelledError):
        pull_q8(registry, home, progress=stop_midway, cancel=cancel)
    (partial,) = hf_cache.rglob("*.incomplete")
    kept = partial.stat().st_size
    assert kept > 0 and registry.all() == [] and not list(hf_cache.rglob("snapshots/*/*"))
    model = pull_q8(registry, home)
    assert model.sha256 == digest(model_bytes)
    assert hub.gets(FILE)[-1].range == f"bytes={kept}-"
    assert not list(hf_cache.rglob("*.incomplete"))


def test_a_corrupted_byte_is_caught_and_nothing_is_kept(
    hf_cache, hub, registry, home, model_bytes
) -> None:
    hub.files[REPO][FILE].corrupt_at = random.Random(7).randrange(len(model_bytes))
    with pytest.raises(IntegrityError, match="does not match the published"):
        pull_q8(registry, home)
    assert blobs(hf_cache) == [] and registry.all() == []
    assert not list(hf_cache.rglob("snapshots/*/*"))


def test_missing_repo_and_missing_file(hf_cache, hub, registry, home) -> None:
    hub.files[REPO] = {}
    with pytest.raises(SourceUnavailableError, match=f"{REPO} has no file {FILE}"):
        pull_q8(registry, home)
    del hub.files[REPO]
    with pytest.raises(SourceUnavailableError, match=f"no repo {REPO} on Hugging Face"):
        pull_q8(registry, home)


def test_a_gated_repo_says_how_to_get_access(
    hf_cache, hub, registry, home, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub.gated.add(REPO)
    with pytest.raises(AccessDeniedError, match=r"accept its terms at .* set HF_TOKEN"):
        pull_q8(registry, home)
    secret = "hf_" + "s3cr3t" * 6
    monkeypatch.setenv("HF_TOKEN", secret)
    with pytest.raises(AccessDeniedError) as caught:
        pull_q8(registry, home)
    assert "HF_TOKEN has no access" in str(caught.value) and secret not in str(caught.value)
    assert hub.served[-1].authorized


def test_a_disk_too_small_is_detected_before_the_transfer(hf_cache, hub, registry, home) -> None:
    hub.files[REPO][FILE].advertised_size = 1 << 60
    with pytest.raises(InsufficientDiskError, match="GiB free"):
        pull_q8(registry, home)
    assert hub.gets(FILE) == []


def test_server_errors_are_retried_with_backoff(hf_cache, hub, registry, home, model_bytes) -> None:
    hub.files[REPO][FILE].fail_heads += [503, 503]
    waits: list[float] = []
    model = pull_q8(registry, home, on_retry=lambda why, wait: waits.append(wait))
    assert model.sha256 == digest(model_bytes) and waits == [0.01, 0.02]
    hub.files[REPO][FILE].fail_heads += [503, 503, 503]
    registry.forget(model.id)
    for path in hf_cache.rglob("snapshots/*/*"):
        path.unlink()
    with pytest.raises(SourceUnavailableError, match="gave up after 3 tries"):
        pull_q8(registry, home)


def test_fit_reads_only_the_remote_header(hf_cache, hub, registry, model_bytes) -> None:
    subject = subject_for(f"{DEFAULT_MODEL}:{QUANT}", load_catalog(), registry)
    assert subject.shape.exact and subject.shape.n_layers == 30
    assert subject.shape.file_bytes == len(model_bytes)
    assert "not downloaded" in (subject.note or "")
    (get,) = hub.gets(FILE)
    assert get.range == "bytes=0-4194303" and blobs(hf_cache) == []


def test_cli_pull_models_and_rm(hf_cache, hub, home, model_bytes, capsys) -> None:
    env = {"HF_ENDPOINT": hub.url, "HF_HUB_CACHE": str(hf_cache)}
    done = run_cli(home, "pull", f"{DEFAULT_MODEL}:{QUANT}", "--json", extra_env=env)
    assert done.returncode == 0, done.stderr
    pulled = json.loads(done.stdout)
    assert pulled["sha256"] == digest(model_bytes) and pulled["repo"] == REPO
    kept = run_cli(home, "rm", pulled["id"], extra_env=env)
    assert kept.returncode == 0 and "Hugging Face cache" in kept.stderr
    listed = json.loads(run_cli(home, "models", "--json", extra_env=env).stdout)
    assert [(m["registered"], m["repo"]) for m in listed] == [(False, REPO)]
    run_cli(home, "pull", f"{DEFAULT_MODEL}:{QUANT}", extra_env=env)
    gone = run_cli(home, "rm", pulled["id"], "--delete-from-hf-cache", extra_env=env)
    assert gone.returncode == 0 and blobs(hf_cache) == []
    assert main(["pull", f"{DEFAULT_MODEL}:{QUANT}"]) == ExitCode.OK
    assert main(["models", "--json"]) == ExitCode.OK
    assert "origin" in capsys.readouterr().out
    assert main(["rm", f"{DEFAULT_MODEL}:{QUANT}", "--delete-from-hf-cache"]) == ExitCode.OK
    hub.gated.add(REPO)
    assert main(["pull", f"{DEFAULT_MODEL}:{QUANT}"]) == ExitCode.ACCESS_DENIED
    refused = run_cli(home, "pull", f"{DEFAULT_MODEL}:{QUANT}", extra_env=env)
    assert refused.returncode == 8
    assert refused.stderr.strip().splitlines()[-1].startswith("error: ")
    assert "accept its terms" in refused.stderr
