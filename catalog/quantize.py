"""Quantizing a local model with llama.cpp's quantizer, in a child process.

The child (`catalog.quantize_worker`) prints llama.cpp's per-tensor lines on stderr; they
become `(done, total)` progress here. Cancelling ends the child and removes the partial
output. The result is loaded and asked for a few tokens (in another child) before it is
registered, with its lineage: where it came from, what was written, how long it took.
"""

from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from catalog.errors import CancelledError, QuantizeError
from catalog.files import Progress, check_free_disk, sha256_of
from catalog.gguf_info import read_gguf_info
from catalog.local import LocalModel, LocalModels
from catalog.quant_types import quant_type

UNQUANTIZED = frozenset({"F32", "F16", "BF16", "ALL_F32"})
PROGRESS_LINE = re.compile(r"^\[\s*(\d+)/\s*(\d+)\]")
FALLBACK_LINE = re.compile(r"(\d+ of \d+ tensor\(s\) required fallback quantization)")
PROJECT_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class QuantizeRequest:
    source: LocalModel
    target: str
    allow_requantize: bool = False
    model_id: str | None = None
    threads: int = 0


@dataclass(frozen=True)
class QuantizeOutcome:
    model: LocalModel
    seconds: float
    sample: str
    notes: tuple[str, ...] = field(default=())


@dataclass
class ChildRun:
    """What a worker child left behind: exit code, stdout, and the end of its stderr."""

    returncode: int
    stdout: str
    tail: deque[str]
    fallback: str | None = None


def requantize_warning(source_quant: str | None, target: str) -> str | None:
    """Requantizing an already quantized file compounds the rounding errors."""
    if source_quant is None or source_quant.upper() in UNQUANTIZED:
        return None
    if target.upper() in UNQUANTIZED:
        return (
            f"the source is already quantized ({source_quant}): the {target} file keeps that "
            "rounding loss, it is only larger, not better"
        )
    return (
        f"the source is already quantized ({source_quant}): the {target} result keeps that "
        "loss and adds its own; quantize from an F16/BF16 file when you have one"
    )


def _worker_command(args: Sequence[str]) -> list[str]:
    return [sys.executable, "-m", "catalog.quantize_worker", *args]


def _child_env() -> dict[str, str]:
    paths = [str(PROJECT_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}


def _pump(stream: IO[str], lines: queue.Queue[str | None]) -> None:
    for line in stream:
        lines.put(line.rstrip("\n"))
    lines.put(None)


def run_child(
    args: Sequence[str],
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> ChildRun:
    """Run the worker, turning `[ i/ N]` lines into progress; end it if cancelled."""
    child = subprocess.Popen(
        _worker_command(args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        env=_child_env(),
    )
    assert child.stderr is not None and child.stdout is not None
    lines: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_pump, args=(child.stderr, lines), daemon=True).start()
    run = ChildRun(0, "", deque(maxlen=40))
    try:
        _follow(lines, run, progress, cancel)
    except CancelledError:
        child.terminate()
        child.wait()
        raise
    run.stdout = child.stdout.read()
    run.returncode = child.wait()
    return run


def _follow(
    lines: queue.Queue[str | None],
    run: ChildRun,
    progress: Progress | None,
    cancel: threading.Event | None,
) -> None:
    while True:
        if cancel is not None and cancel.is_set():
            raise CancelledError("cancelled by the user; the partial output was removed")
        try:
            line = lines.get(timeout=0.2)
        except queue.Empty:
            continue
        if line is None:
            return
        run.tail.append(line)
        step = PROGRESS_LINE.match(line)
        if step and progress is not None:
            progress(int(step.group(1)), int(step.group(2)))
        found = FALLBACK_LINE.search(line)
        run.fallback = found.group(1) if found else run.fallback


def _failure(what: str, run: ChildRun) -> QuantizeError:
    last = next((line for line in reversed(run.tail) if line.strip()), "no output")
    return QuantizeError(f"{what} failed (exit code {run.returncode}): {last}")


def output_paths(request: QuantizeRequest, models_dir: Path) -> tuple[str, Path]:
    """The id and file of the result: `<catalog id or stem>:<TYPE>` under models_dir."""
    source = request.source
    base = source.catalog_id or source.id.split(":")[0]
    base = re.sub(r"[^A-Za-z0-9._-]+", "-", base)
    model_id = request.model_id or f"{base}:{request.target}"
    return model_id, models_dir / base / f"{base}.{request.target}.gguf"


def check_request(request: QuantizeRequest, registry: LocalModels, model_id: str) -> str | None:
    """Refuse what would lose data or quality silently; return the requantize warning."""
    quant_type(request.target)
    if not request.source.present:
        raise QuantizeError(f"{request.source.id}: {request.source.path} is missing")
    existing = registry.get(model_id)
    if existing is not None and existing.present:
        raise QuantizeError(
            f"{model_id} already exists ({existing.path}); pick another --id or "
            f"`hostbench rm {model_id}` first"
        )
    warning = requantize_warning(read_gguf_info(request.source.path).quant, request.target)
    if warning and not request.allow_requantize:
        raise QuantizeError(f"{warning}; pass --allow-requantize to do it anyway")
    return warning


def verify_output(path: Path, cancel: threading.Event | None = None) -> str:
    """Load the result in a child and let it answer a chat prompt."""
    run = run_child(["verify", str(path)], cancel=cancel)
    if run.returncode != 0:
        raise _failure(f"loading {path.name}", run)
    answer: dict[str, Any] = json.loads(run.stdout.strip().splitlines()[-1])
    return str(answer["text"])


def quantize(
    request: QuantizeRequest,
    registry: LocalModels,
    models_dir: Path,
    *,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    on_warning: Callable[[str], None] | None = None,
) -> QuantizeOutcome:
    model_id, destination = output_paths(request, models_dir)
    warning = check_request(request, registry, model_id)
    if warning and on_warning is not None:
        on_warning(warning)
    check_free_disk(destination.parent, _upper_bound_bytes(request))
    partial = destination.with_name(destination.name + ".partial")
    started = time.monotonic()
    try:
        run = _run_quantizer(request, partial, progress, cancel)
        seconds = time.monotonic() - started
        sample = verify_output(partial, cancel)
        os.replace(partial, destination)
    finally:
        partial.unlink(missing_ok=True)
    model = _register(
        request,
        registry,
        model_id=model_id,
        path=destination,
        seconds=seconds,
        fallback=run.fallback,
    )
    notes = tuple(filter(None, [warning, run.fallback]))
    return QuantizeOutcome(model, seconds, sample, notes)


def _upper_bound_bytes(request: QuantizeRequest) -> int:
    """Room for the output: parameters x the type's bits, with half again for fallbacks
    (rows too narrow for K-quants fall back to wider types)."""
    info = read_gguf_info(request.source.path)
    params = sum(t.n_elements for t in info.tensors)
    bits = quant_type(request.target).bits_per_weight
    return int(params * bits / 8 * 1.5) + (info.header_bytes or 0)


def _run_quantizer(
    request: QuantizeRequest,
    partial: Path,
    progress: Progress | None,
    cancel: threading.Event | None,
) -> ChildRun:
    args = ["quantize", str(request.source.path), str(partial), request.target]
    args += ["--allow-requantize"] if request.allow_requantize else []
    args += ["--threads", str(request.threads)] if request.threads else []
    run = run_child(args, progress, cancel)
    if run.returncode != 0 or not partial.is_file():
        raise _failure(f"quantizing {request.source.id} to {request.target}", run)
    return run


def _register(
    request: QuantizeRequest,
    registry: LocalModels,
    *,
    model_id: str,
    path: Path,
    seconds: float,
    fallback: str | None,
) -> LocalModel:
    info = read_gguf_info(path)
    params = sum(t.n_elements for t in info.tensors)
    lineage = {
        "source": "quantize",
        "from_id": request.source.id,
        "from_sha256": request.source.sha256,
        "from_quant": request.source.quant,
        "type": request.target,
        "size_bytes": path.stat().st_size,
        "bits_per_weight": round(8 * info.weights_bytes / max(1, params), 2),
        "tensor_types": info.type_counts(),
        "fallback": fallback,
        "seconds": round(seconds, 2),
        "quantizer": f"llama.cpp via llama-cpp-python {_llama_cpp_version()}",
    }
    model = LocalModel(
        id=model_id,
        path=path,
        sha256=sha256_of(path),
        size_bytes=path.stat().st_size,
        origin=f"quantize:{request.source.id}",
        quant=request.target,
        catalog_id=request.source.catalog_id,
        lineage=lineage,
    )
    return registry.register(model)


def _llama_cpp_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("llama_cpp_python")
    except PackageNotFoundError:
        return "unknown"
