"""What a quantized KV cache does to a model's answers, measured: the KL divergence of each
next-token distribution from the f16 cache's, the share of positions whose most likely token
stays the same, and the perplexity, over chunks of a text (the measures of llama.cpp's
`llama-perplexity --kl-divergence`, taken here through the bindings so no other tool needs
building). Markdown on stdout.

    python -m devtools.kv_cache_quality [--model ID] [--ctx 512] [--chunks 16] FILE...

Each chunk of `--ctx` tokens is read in one batch with the cache type under test, and only
its second half is scored, so every scored token has at least half a chunk before it in the
cache, as llama-perplexity does. The reference is an f16 cache with flash attention, as
every quantized V cache needs it; f16 without flash attention is measured too, as the size
of a change that is only arithmetic order.
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from devtools.concurrency_bench import local_model

Floats = npt.NDArray[np.float64]

SETTINGS = {
    "f16, flash attention off": ("f16", False),
    "q8_0": ("q8_0", True),
    "q4_0": ("q4_0", True),
}
"""Each setting compared with the reference (f16, flash attention on): KV type, flash."""


@dataclass(frozen=True)
class Comparison:
    """One setting against the reference over every scored token."""

    kld: Floats
    same_top: Floats
    nll: Floats
    reference_nll: Floats

    @property
    def perplexity(self) -> float:
        return float(np.exp(self.nll.mean()))

    @property
    def reference_perplexity(self) -> float:
        return float(np.exp(self.reference_nll.mean()))


def log_softmax(logits: Floats) -> Floats:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def compare(reference: Floats, other: Floats, targets: npt.NDArray[np.int64]) -> Comparison:
    """Rows are positions' log-probabilities over the vocabulary; targets the next tokens."""
    kld = (np.exp(reference) * (reference - other)).sum(axis=-1)
    same_top = (reference.argmax(axis=-1) == other.argmax(axis=-1)).astype(np.float64)
    rows = np.arange(len(targets))
    return Comparison(kld, same_top, -other[rows, targets], -reference[rows, targets])


def joined(parts: Sequence[Comparison]) -> Comparison:
    return Comparison(
        *(np.concatenate([getattr(p, f) for p in parts]) for f in Comparison.__dataclass_fields__)
    )


def chunks(tokens: Sequence[int], size: int, limit: int) -> Iterator[list[int]]:
    for start in range(0, len(tokens) - size + 1, size):
        if start // size >= limit:
            return
        yield list(tokens[start : start + size])


class Reader:
    """The model with one cache setting; `scored` gives the log-probabilities of a chunk's
    second half."""

    def __init__(self, model_path: Path, ctx: int, kv_type: str, flash: bool, threads: int):
        import llama_cpp

        kind = getattr(llama_cpp, f"GGML_TYPE_{kv_type.upper()}")  # the bindings' ggml type
        self.llm = llama_cpp.Llama(
            str(model_path),
            n_ctx=ctx,
            n_batch=ctx,
            n_ubatch=ctx,
            logits_all=True,
            type_k=kind,
            type_v=kind,
            flash_attn=flash,
            n_threads=threads,
            verbose=False,
        )

    def tokenize(self, text: str) -> list[int]:
        return self.llm.tokenize(text.encode(), add_bos=False)

    def scored(self, chunk: list[int]) -> Floats:
        self.llm.reset()
        self.llm.eval(chunk)
        half = len(chunk) // 2
        logits = np.asarray(self.llm.scores[half : len(chunk) - 1], dtype=np.float64)
        return log_softmax(logits)


def measure(args: argparse.Namespace) -> list[str]:
    """Every setting's model is loaded up front, so each chunk's reference distributions are
    compared as soon as they are read and never all held (4 GB for 40 chunks here)."""
    model, _ = local_model(args.model)
    text = "\n\n".join(Path(f).read_text() for f in args.files)
    reference = Reader(model.path, args.ctx, "f16", True, args.threads)
    readers = {
        name: Reader(model.path, args.ctx, kv_type, flash, args.threads)
        for name, (kv_type, flash) in SETTINGS.items()
    }
    pieces = list(chunks(reference.tokenize(text), args.ctx, args.chunks))
    found: dict[str, list[Comparison]] = {name: [] for name in readers}
    for chunk in pieces:
        expected = reference.scored(chunk)
        targets = np.asarray(chunk[len(chunk) // 2 + 1 :], dtype=np.int64)
        for name, reader in readers.items():
            found[name].append(compare(expected, reader.scored(chunk), targets))
    scored = sum(len(c) - len(c) // 2 - 1 for c in pieces)
    lines = [
        f"Model {model.path.name}; {len(pieces)} chunks of {args.ctx} tokens, the second half"
        f" of each scored ({scored} tokens); reference: f16 cache, flash attention on.",
        "",
        "| KV cache | mean KLD | KLD p99 | same top token | PPL | reference PPL |",
        "|---|---|---|---|---|---|",
    ]
    return lines + [row(name, joined(parts)) for name, parts in found.items()]


def row(name: str, found: Comparison) -> str:
    p99 = float(np.percentile(found.kld, 99))
    same = 100 * statistics.fmean(found.same_top)
    return (
        f"| {name} | {found.kld.mean():.5f} | {p99:.4f} | {same:.2f} % "
        f"| {found.perplexity:.3f} | {found.reference_perplexity:.3f} |"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path, help="plain text to score")
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--ctx", type=int, default=512)
    parser.add_argument("--chunks", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    print("\n".join(measure(parser.parse_args(argv))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
