"""Prompt sets: distinct prompts per level and for the warm-up; JSONL files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.prompts import PromptError, approximate_prompts, file_prompts


def texts(prompts: tuple) -> list[str]:
    return [p.messages[0]["content"] for p in prompts]


def test_every_level_and_the_warmup_get_their_own_prompts() -> None:
    prompts = approximate_prompts(4, 16, 8, seed=3, levels=3, warmup=1)
    levels = [texts(prompts.for_level(i)) for i in range(3)]
    warm = texts(prompts.for_warmup(1))
    every = [t for level in levels for t in level] + warm
    assert [len(level) for level in levels] == [4, 4, 4] and len(warm) == 1
    assert len(set(every)) == 13  # no prompt is sent twice in a session
    assert prompts.params["num_prompts"] == 4 and prompts.params["distinct_per_level"]
    again = approximate_prompts(4, 16, 8, seed=3, levels=3, warmup=1)
    assert texts(again.prompts) == texts(prompts.prompts)  # seeded
    assert all(p.max_tokens == 8 and p.input_tokens is None for p in prompts.prompts)


def test_a_prompt_file_is_cycled_and_reused_at_every_level(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    rows = [
        {"prompt": "one"},
        {
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": "two"},
            ],
            "max_tokens": 5,
        },
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    prompts = file_prompts(path, 5, output_len=9)
    assert [p.max_tokens for p in prompts.prompts] == [9, 5, 9, 5, 9]
    assert prompts.for_level(2) == prompts.prompts
    assert prompts.prompts[1].messages[0]["role"] == "system"
    assert file_prompts(path, None, 9).params["num_prompts"] == 2


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{nope", ":1: not JSON"),
        ('"text"', "JSON object"),
        ('{"x": 1}', ':1: needs "prompt"'),
        ("", "no prompts"),
    ],
)
def test_bad_prompt_files_name_the_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    with pytest.raises(PromptError, match=message):
        file_prompts(path, None, 8)
