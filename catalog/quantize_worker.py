"""The child process of `catalog.quantize`: runs llama.cpp's quantizer or loads a result.

Kept separate so a quantization can be cancelled by ending a process, so llama.cpp's
per-tensor lines on stderr (`[  12/ 272] blk.1.attn_k.weight - ...`) reach the parent as
progress, and so a crash in native code takes down only this process.

    python -m catalog.quantize_worker quantize SRC DST TYPE [--allow-requantize] [--threads N]
    python -m catalog.quantize_worker verify PATH

A result is checked by its own logits, not by a chat answer: chat formatting differs per
model (a Gemma 3 file produced no tokens through it), while every model must give a finite,
non-flat distribution over its vocabulary after a plain prompt.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import math
import os
import signal
import sys
from collections.abc import Sequence
from typing import Any

from catalog.quant_types import quant_type

VERIFY_PROMPT = "The capital of France is"
VERIFY_TOKENS = 8
"""Greedy tokens generated after the prompt, shown to the user as a sample."""
PR_SET_PDEATHSIG = 1


def set_fields(params: Any, values: dict[str, Any]) -> list[str]:
    """Set struct fields by name; return the names this llama-cpp-python lacks (the struct
    changes between versions, so nothing is assumed about its layout)."""
    present = {name for name, *_ in type(params)._fields_}
    missing = [name for name in values if name not in present]
    for name, value in values.items():
        if name in present:
            setattr(params, name, value)
    return missing


def quantize(source: str, destination: str, target: str, allow: bool, threads: int) -> int:
    import llama_cpp

    wanted = quant_type(target)
    if not hasattr(llama_cpp, wanted.ftype):
        print(f"error: this llama-cpp-python has no {wanted.ftype}", file=sys.stderr)
        return 2
    params = llama_cpp.llama_model_quantize_default_params()
    fields = {"ftype": getattr(llama_cpp, wanted.ftype), "allow_requantize": allow}
    if threads > 0:
        fields["nthread"] = threads
    for name in set_fields(params, fields):
        print(f"warning: quantize params have no field {name!r}", file=sys.stderr)
    code = llama_cpp.llama_model_quantize(
        source.encode(), destination.encode(), ctypes.byref(params)
    )
    return 0 if code == 0 else 1


def logits_problem(logits: Sequence[float], n_vocab: int) -> str | None:
    """Why a row of next-token logits shows a broken model; None when it looks sound."""
    if len(logits) != n_vocab:
        return f"{len(logits)} logits for a vocabulary of {n_vocab}"
    bad = sum(1 for x in logits if not math.isfinite(x))
    if bad:
        return f"{bad} of {n_vocab} logits are not finite (NaN or inf)"
    if max(logits) - min(logits) < 1e-6:
        return "every logit is equal: the model's output does not depend on its input"
    return None


def _last_logits(llama_cpp: Any, model: Any) -> list[float]:
    pointer = llama_cpp.llama_get_logits_ith(model.ctx, -1)
    return [float(pointer[i]) for i in range(model.n_vocab())]


def plain_cpu_buffers(bindings: Any) -> None:
    """Load weights as stored, without the CPU's repacked (extra) buffer types: the check is
    about the file, and llama-cpp-python 0.3.36's decode crashed in those kernels for every
    quantized file on an AVX-512/AMX CPU here (F16 was fine)."""
    defaults = bindings.llama_model_default_params

    def without_extra_buffers() -> Any:
        params = defaults()
        set_fields(params, {"use_extra_bufts": False})
        return params

    bindings.llama_model_default_params = without_extra_buffers


def check_logits(path: str) -> dict[str, Any]:
    """Evaluate a fixed prompt; check the logits; continue greedily for a sample."""
    import llama_cpp
    import llama_cpp.llama_cpp as bindings

    plain_cpu_buffers(bindings)
    model = llama_cpp.Llama(path, n_ctx=256, n_batch=64, n_threads=2, verbose=True)
    model.eval(model.tokenize(VERIFY_PROMPT.encode(), add_bos=True))
    logits = _last_logits(llama_cpp, model)
    report: dict[str, Any] = {"n_vocab": model.n_vocab(), "logits": len(logits)}
    report["error"] = logits_problem(logits, model.n_vocab())
    sample: list[int] = []
    while report["error"] is None and len(sample) < VERIFY_TOKENS:
        token = max(range(len(logits)), key=logits.__getitem__)
        if token == model.token_eos():
            break
        sample.append(token)
        model.eval([token])
        logits = _last_logits(llama_cpp, model)
    report["text"] = model.detokenize(sample).decode("utf-8", errors="replace")
    report["ok"] = report["error"] is None
    return report


def verify(path: str) -> int:
    """Print the check's report as one JSON line on stdout (the loader logs on stderr)."""
    try:
        report = check_logits(path)
    except Exception as error:
        report = {"ok": False, "error": f"{type(error).__name__}: {error}"}
    print(json.dumps(report), flush=True)
    return 0 if report["ok"] else 1


def die_with_parent() -> None:
    """On Linux, end this process when hostbench ends, even by SIGKILL: a quantizer left
    running would keep writing a file nobody removes."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the parent was already gone before prctl
        os._exit(1)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m catalog.quantize_worker")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("quantize")
    run.add_argument("source")
    run.add_argument("destination")
    run.add_argument("type")
    run.add_argument("--allow-requantize", action="store_true")
    run.add_argument("--threads", type=int, default=0)
    check = commands.add_parser("verify")
    check.add_argument("path")
    args = parser.parse_args(argv)
    die_with_parent()
    if args.command == "verify":
        return verify(args.path)
    return quantize(args.source, args.destination, args.type, args.allow_requantize, args.threads)


if __name__ == "__main__":
    sys.exit(main())
