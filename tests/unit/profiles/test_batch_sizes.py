"""The `cpu` profile reads prompts 64 tokens a step, except where embeddings or reranking
read each input whole; a batch below llama.cpp's default micro-batch (512) takes the
micro-batch down with it, as llama.cpp itself does, and the plan says why; a micro-batch
given larger than the batch is still refused. The machine is this one's real reading with
its RAM set."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from engines.llamacpp import LlamaCppOptions
from profiles.library import ProfileLibrary
from profiles.resolver import Origin, Resolution, resolve_options
from tests.unit.catalog.conftest import machine, smollm2

DEFAULTS = LlamaCppOptions().model_dump()


def plan(given: dict[str, Any]) -> Resolution:
    snapshot = machine(ram_gib=16)
    resolved = ProfileLibrary.load().resolve("auto", snapshot)
    keys = LlamaCppOptions.estimate_keys
    return resolve_options(smollm2(), snapshot, resolved, given, DEFAULTS, keys=keys)


def test_a_small_batch_takes_the_default_micro_batch_down_and_says_why() -> None:
    got = plan({"batch_size": 128})
    assert (got.options["batch_size"], got.options["ubatch_size"]) == (128, 128)
    why = got.reasons["ubatch_size"]
    assert why.origin is Origin.DEFAULT
    assert why.text == "at most the batch size, 128 (given on the command line)"
    LlamaCppOptions.model_validate(got.options)


def test_the_cpu_profile_reads_prompts_64_tokens_a_step() -> None:
    got = plan({})
    assert (got.options["batch_size"], got.options["ubatch_size"]) == (64, 64)
    assert got.reasons["batch_size"].text == "profile cpu"
    assert got.reasons["ubatch_size"].text == "at most the batch size, 64 (profile cpu)"


@pytest.mark.parametrize("switch", ["embeddings", "reranking"])
def test_embeddings_and_reranking_keep_llama_cpps_batch(switch: str) -> None:
    got = plan({switch: True})
    assert (got.options["batch_size"], got.options["ubatch_size"]) == (2048, 512)
    why = got.reasons["batch_size"]
    assert why.origin is Origin.DEFAULT
    assert why.text == f"profile cpu asked 64; with {switch} each input is read whole"


def test_a_tuned_profiles_micro_batch_goes_back_too_for_embeddings() -> None:
    snapshot = machine(ram_gib=16)
    resolved = ProfileLibrary.load().resolve("auto", snapshot)
    tuned = replace(resolved, engine={**resolved.engine, "batch_size": 64, "ubatch_size": 64})
    keys = LlamaCppOptions.estimate_keys
    got = resolve_options(smollm2(), snapshot, tuned, {"embeddings": True}, DEFAULTS, keys=keys)
    assert (got.options["batch_size"], got.options["ubatch_size"]) == (2048, 512)
    assert got.reasons["ubatch_size"].origin is Origin.DEFAULT


def test_a_batch_given_with_embeddings_is_kept() -> None:
    got = plan({"embeddings": True, "batch_size": 256})
    assert (got.options["batch_size"], got.options["ubatch_size"]) == (256, 256)


def test_a_batch_above_the_micro_batch_leaves_it_alone() -> None:
    got = plan({"batch_size": 1024})
    assert got.options["ubatch_size"] == 512
    assert got.reasons["ubatch_size"].text == "engine default"


def test_a_micro_batch_given_larger_than_the_batch_is_refused() -> None:
    got = plan({"batch_size": 128, "ubatch_size": 256})
    assert got.options["ubatch_size"] == 256, "what was given is kept, to be refused"
    with pytest.raises(ValueError, match="ubatch_size must not exceed batch_size"):
        LlamaCppOptions.model_validate(got.options)
