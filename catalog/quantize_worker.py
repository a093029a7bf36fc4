"""The child process of `catalog.quantize`: runs llama.cpp's quantizer or loads a result.

Kept separate so a quantization can be cancelled by ending a process, so llama.cpp's
per-tensor lines on stderr (`[  12/ 272] blk.1.attn_k.weight - ...`) reach the parent as
progress, and so a crash in native code takes down only this process.

    python -m catalog.quantize_worker quantize SRC DST TYPE [--allow-requantize] [--threads N]
    python -m catalog.quantize_worker verify PATH
"""

from __future__ import annotations

import argparse
import ctypes
import json
import sys
from collections.abc import Sequence
from typing import Any

from catalog.quant_types import quant_type

VERIFY_PROMPT = "Say hello in five words."


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


def verify(path: str) -> int:
    """Load the file and generate a few tokens; print what came out as JSON."""
    import llama_cpp

    model = llama_cpp.Llama(path, n_ctx=512, n_threads=2, verbose=False)
    answer: Any = model.create_chat_completion(
        messages=[{"role": "user", "content": VERIFY_PROMPT}], max_tokens=16, temperature=0.0
    )
    text = answer["choices"][0]["message"]["content"] or ""
    tokens = answer["usage"]["completion_tokens"]
    print(json.dumps({"text": text, "completion_tokens": tokens}))
    return 0 if tokens > 0 else 1


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
    if args.command == "verify":
        return verify(args.path)
    return quantize(args.source, args.destination, args.type, args.allow_requantize, args.threads)


if __name__ == "__main__":
    sys.exit(main())
