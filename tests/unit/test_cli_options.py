"""CLI flags are generated from the engine's pydantic options, and round-trip into them."""

from __future__ import annotations

import argparse

import pytest

from app.cli.options import add_model_options, given_options
from engines.llamacpp import LlamaCppOptions


def parse(*argv: str) -> dict[str, object]:
    parser = argparse.ArgumentParser(exit_on_error=False)
    add_model_options(parser, LlamaCppOptions, "llama.cpp options")
    return given_options(parser.parse_args(list(argv)))


def test_every_option_has_a_flag_with_its_description() -> None:
    parser = argparse.ArgumentParser()
    add_model_options(parser, LlamaCppOptions, "llama.cpp options")
    text = parser.format_help()
    for name, field in LlamaCppOptions.model_fields.items():
        assert "--" + name.replace("_", "-") in text
        assert (field.description or "")[:20] in " ".join(text.split())


def test_only_given_flags_are_collected_and_validate() -> None:
    values = parse("--ctx-size", "2048", "--n-gpu-layers", "12", "--no-mmap", "--flash-attn", "on")
    assert values == {"ctx_size": 2048, "n_gpu_layers": "12", "mmap": False, "flash_attn": "on"}
    options = LlamaCppOptions.model_validate(values)
    assert options.n_gpu_layers == 12
    assert options.parallel == LlamaCppOptions().parallel


def test_auto_is_accepted_where_declared() -> None:
    assert LlamaCppOptions.model_validate(parse("--n-gpu-layers", "auto")).n_gpu_layers == "auto"


def test_choices_and_types_are_enforced_by_the_parser() -> None:
    with pytest.raises(argparse.ArgumentError):
        parse("--flash-attn", "sometimes")
    with pytest.raises(argparse.ArgumentError):
        parse("--ctx-size", "big")


def test_bounds_are_enforced_by_the_model_and_shown_in_help() -> None:
    with pytest.raises(ValueError, match="ctx_size"):
        LlamaCppOptions.model_validate(parse("--ctx-size", "10"))
    parser = argparse.ArgumentParser()
    add_model_options(parser, LlamaCppOptions, "llama.cpp options")
    assert ">= 256" in parser.format_help()


def test_cross_field_rule() -> None:
    with pytest.raises(ValueError, match="ubatch_size"):
        LlamaCppOptions.model_validate(parse("--batch-size", "256", "--ubatch-size", "512"))


def test_a_batch_below_the_default_micro_batch_takes_it_down() -> None:
    """As llama.cpp does: `--batch-size 128` alone launches with a micro-batch of 128."""
    options = LlamaCppOptions.model_validate(parse("--batch-size", "128"))
    assert (options.batch_size, options.ubatch_size) == (128, 128)
    larger = LlamaCppOptions.model_validate(parse("--batch-size", "4096"))
    assert (larger.batch_size, larger.ubatch_size) == (4096, 512)
    given = LlamaCppOptions.model_validate(parse("--batch-size", "256", "--ubatch-size", "64"))
    assert (given.batch_size, given.ubatch_size) == (256, 64)
