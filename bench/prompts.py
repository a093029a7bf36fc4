"""Prompts for load tests: synthetic ones of an exact token length, or a JSONL file.

Synthetic prompts are built from the model's own vocabulary, with no dataset to download:
words that are one token *with* their leading space (" river", " stone"). Byte-level BPE
tokenizers split text before each space, so a run of such words is exactly one token per
word; the result is checked with the tokenizer and corrected if a tokenizer disagrees.
Every prompt is different (seeded per index), so no prompt cache serves one from another.
"""

from __future__ import annotations

import json
import os
import random
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from bench.errors import BenchNotFoundError, BenchUsageError


class PromptError(BenchUsageError):
    """A prompt file or a tokenizer that cannot be used; the message says which line."""


class Tokenizer(Protocol):
    """What prompt building needs from a model's tokenizer."""

    name: str

    def encode(self, text: str) -> list[int]: ...
    def decode(self, ids: Sequence[int]) -> str: ...
    def vocab_size(self) -> int: ...
    def eos_token_id(self) -> int | None: ...


@dataclass(frozen=True)
class Prompt:
    messages: tuple[dict[str, Any], ...]
    input_tokens: int | None
    """Tokens of the message text by the model's tokenizer (None: not counted). The
    server's `prompt_tokens` is larger by the chat template."""
    max_tokens: int


@dataclass(frozen=True)
class PromptSet:
    """The prompts of a session and how they were made (stored with each run).

    A synthetic set holds distinct prompts for every concurrency level and the warm-up,
    so an engine's prompt cache never serves one level from an earlier one; a file's
    prompts are reused at every level (the params say so)."""

    prompts: tuple[Prompt, ...]
    params: dict[str, Any]
    per_level: int | None = None
    levels: int = 1

    def for_level(self, index: int) -> tuple[Prompt, ...]:
        """The prompts of level `index` (0-based)."""
        count = self.per_level or len(self.prompts)
        start = index * count if index < self.levels else 0
        return self.prompts[start : start + count]

    def for_warmup(self, count: int) -> tuple[Prompt, ...]:
        """Prompts no level sends, where the set has them."""
        spare = self.prompts[(self.per_level or 0) * self.levels :]
        return (spare or self.prompts)[:count]


class LlamaCppTokenizer:
    """A GGUF file's tokenizer through llama-cpp-python, loading the vocabulary only."""

    def __init__(self, model_path: Path) -> None:
        import llama_cpp

        self.name = f"llama.cpp vocab of {model_path.name}"
        _check_file(model_path)
        try:
            with _quiet_stderr():
                self._llm = llama_cpp.Llama(
                    model_path=str(model_path), vocab_only=True, verbose=False
                )
        except ValueError:  # llama.cpp's "Failed to load model from file"
            raise PromptError(f"{model_path}: not a GGUF file llama.cpp can read") from None

    def encode(self, text: str) -> list[int]:
        return list(self._llm.tokenize(text.encode(), add_bos=False, special=False))

    def decode(self, ids: Sequence[int]) -> str:
        return bytes(self._llm.detokenize(list(ids))).decode("utf-8", errors="replace")

    def vocab_size(self) -> int:
        return int(self._llm.n_vocab())

    def eos_token_id(self) -> int | None:
        eos = int(self._llm.token_eos())
        return eos if eos >= 0 else None


class PromptFileNotFoundError(BenchNotFoundError):
    """A prompt file or tokenizer path where no file is."""


def _check_file(path: Path) -> None:
    """A missing path or a directory said as such, before a library says something vaguer."""
    if path.is_dir():
        raise PromptError(f"{path} is a directory, not a file")
    if not path.exists():
        raise PromptFileNotFoundError(f"no such file: {path}")


@contextmanager
def _quiet_stderr() -> Iterator[None]:
    """llama.cpp's C code logs a context warning on stderr even with verbose=False; a
    failed load still raises, with its message, from Python."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def word_tokens(tokenizer: Tokenizer) -> list[str]:
    """Vocabulary entries that are a space and 3+ lower-case ASCII letters."""
    words = []
    for token_id in range(tokenizer.vocab_size()):
        text = tokenizer.decode([token_id])
        body = text[1:]
        if (
            len(text) >= 4
            and text[0] == " "
            and body.isascii()
            and body.isalpha()
            and body.islower()
        ):
            words.append(text)
    if len(words) < 100:
        raise PromptError(f"{tokenizer.name}: too few word tokens ({len(words)}) to build prompts")
    return words


def exact_prompt(
    tokenizer: Tokenizer, words: Sequence[str], length: int, rng: random.Random
) -> str:
    """Text of exactly `length` tokens, or as close as a few corrections get."""
    chosen = [rng.choice(words) for _ in range(length)]
    for _ in range(8):
        count = len(tokenizer.encode("".join(chosen)))
        if count == length:
            break
        if count > length:
            del chosen[max(1, len(chosen) - (count - length)) :]
        else:
            chosen += [rng.choice(words) for _ in range(length - count)]
    return "".join(chosen)


def synthetic_prompts(
    tokenizer: Tokenizer,
    count: int,
    input_len: int,
    output_len: int,
    seed: int = 0,
    *,
    levels: int = 1,
    warmup: int = 0,
) -> PromptSet:
    """`count` distinct prompts per level (and `warmup` more) of `input_len` tokens, each
    asking for `output_len`."""
    words = word_tokens(tokenizer)
    prompts = []
    for index in range(count * levels + warmup):
        rng = random.Random(f"{seed}:{index}")
        text = exact_prompt(tokenizer, words, input_len, rng)
        measured = len(tokenizer.encode(text))
        prompts.append(Prompt(({"role": "user", "content": text},), measured, output_len))
    params = {
        "source": "synthetic",
        "tokenizer": tokenizer.name,
        "input_len": input_len,
        "output_len": output_len,
        "num_prompts": count,
        "seed": seed,
        "distinct_per_level": True,
    }
    return PromptSet(tuple(prompts), params, count, levels)


FALLBACK_WORDS = (
    " the",
    " time",
    " people",
    " world",
    " house",
    " water",
    " river",
    " stone",
    " light",
    " paper",
    " music",
    " green",
    " small",
    " great",
    " large",
    " family",
    " school",
    " market",
    " garden",
    " window",
    " letter",
    " number",
    " morning",
    " evening",
    " summer",
    " winter",
    " city",
    " country",
    " table",
    " story",
    " friend",
    " animal",
    " forest",
    " island",
    " mountain",
    " village",
    " station",
)
"""Common English words that are one token in the usual BPE vocabularies; used only when
the model's tokenizer is not at hand (a remote endpoint), and then lengths are approximate."""


def approximate_prompts(
    count: int,
    input_len: int,
    output_len: int,
    seed: int = 0,
    *,
    levels: int = 1,
    warmup: int = 0,
) -> PromptSet:
    """Prompts of about `input_len` tokens without a tokenizer (counts left to `usage`)."""
    prompts = []
    for index in range(count * levels + warmup):
        rng = random.Random(f"{seed}:{index}")
        text = "".join(rng.choice(FALLBACK_WORDS) for _ in range(input_len))
        prompts.append(Prompt(({"role": "user", "content": text},), None, output_len))
    params = {
        "source": "synthetic (approximate: no tokenizer)",
        "tokenizer": None,
        "input_len": input_len,
        "output_len": output_len,
        "num_prompts": count,
        "seed": seed,
        "distinct_per_level": True,
    }
    return PromptSet(tuple(prompts), params, count, levels)


def file_prompts(
    path: Path, count: int | None, output_len: int, tokenizer: Tokenizer | None = None
) -> PromptSet:
    """Prompts from JSONL: `{"prompt": "..."}` or `{"messages": [...]}`, optionally with
    `"max_tokens"`; the file is cycled to reach `count` (default: one pass)."""
    rows = _read_jsonl(path)
    wanted = count or len(rows)
    prompts = []
    for index in range(wanted):
        line, row = rows[index % len(rows)]
        messages = _messages(path, line, row)
        text = "\n".join(str(m.get("content") or "") for m in messages)
        counted = len(tokenizer.encode(text)) if tokenizer else None
        max_tokens = int(row.get("max_tokens") or row.get("output_len") or output_len)
        prompts.append(Prompt(tuple(messages), counted, max_tokens))
    params = {
        "source": "file",
        "file": str(path),
        "lines": len(rows),
        "tokenizer": tokenizer.name if tokenizer else None,
        "output_len": output_len,
        "num_prompts": wanted,
        "distinct_per_level": False,
    }
    return PromptSet(tuple(prompts), params)


def _read_jsonl(path: Path) -> list[tuple[int, dict[str, Any]]]:
    try:
        _check_file(path)
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise PromptError(f"cannot read {path}: {error.strerror}") from None
    rows = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as error:
            raise PromptError(f"{path}:{number}: not JSON ({error})") from None
        if not isinstance(row, dict):
            raise PromptError(f"{path}:{number}: each line must be a JSON object")
        rows.append((number, row))
    if not rows:
        raise PromptError(f"{path} has no prompts")
    return rows


def _messages(path: Path, line: int, row: dict[str, Any]) -> list[dict[str, Any]]:
    if isinstance(row.get("messages"), list) and row["messages"]:
        return [dict(m) for m in row["messages"] if isinstance(m, dict)]
    text = row.get("prompt", row.get("text"))
    if isinstance(text, str) and text:
        return [{"role": "user", "content": text}]
    raise PromptError(f'{path}:{line}: needs "prompt" (text) or "messages" (a list)')
