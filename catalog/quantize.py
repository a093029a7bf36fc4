"""Quantizing a local model with llama.cpp's quantizer, in a child process.

The child (`catalog.quantize_worker`) prints llama.cpp's per-tensor lines on stderr; they
become `(done, total)` progress here. Any interruption (a cancel, Ctrl-C, an error) first
ends the child and waits for it, then removes the partial output, so nothing keeps writing
a file after it was cleaned up. The result is checked by its own logits (in another child)
before it is registered, with its lineage: where it came from, what was written, how long
it took. Each result gets a file named after its id, never another model's file.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from catalog.errors import CancelledError, ModelExistsError, QuantizeError
from catalog.files import Progress, check_free_disk, exclusive, sha256_of
from catalog.gguf_info import read_gguf_info
from catalog.local import LocalModel, LocalModels
from catalog.quant_types import quant_type

UNQUANTIZED = frozenset({"F32", "F16", "BF16", "ALL_F32"})
PROGRESS_LINE = re.compile(r"^\[\s*(\d+)/\s*(\d+)\]")
FALLBACK_LINE = re.compile(r"(\d+ of \d+ tensor\(s\) required fallback quantization)")
PROJECT_ROOT = Path(__file__).resolve().parents[1]
STOP_WAIT_S = 5.0
"""How long an ended child gets to exit on SIGTERM before it is killed."""
LOG_LINES = 400
"""Lines of a child's stderr kept for error messages (the loader logs a lot)."""
CAUSE = re.compile(r"error|fail|unable|invalid|exception|abort|assert|corrupt", re.IGNORECASE)


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
    """Run the worker, turning `[ i/ N]` lines into progress. However this ends early
    (cancel, KeyboardInterrupt, any error), the child is ended and waited for first."""
    child = subprocess.Popen(
        _worker_command(args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        env=_child_env(),
    )
    try:
        assert child.stderr is not None and child.stdout is not None
        lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=_pump, args=(child.stderr, lines), daemon=True).start()
        run = ChildRun(0, "", deque(maxlen=LOG_LINES))
        _follow(lines, run, progress, cancel)
        run.stdout = child.stdout.read()
        run.returncode = child.wait()
    except BaseException:
        stop_child(child)
        raise
    return run


def stop_child(child: subprocess.Popen[str]) -> None:
    """SIGTERM (llama.cpp's quantizer does not catch it), then SIGKILL; always reaped."""
    if child.poll() is None:
        child.terminate()
        try:
            child.wait(STOP_WAIT_S)
        except subprocess.TimeoutExpired:
            child.kill()
    child.wait()


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


def _failure(what: str, run: ChildRun, cause: str | None = None) -> QuantizeError:
    """The cause, and the log lines that name an error (not merely the last line, which is
    often an unrelated warning)."""
    if cause is None:
        cause = _exit_reason(run.returncode)
    relevant = [line.strip() for line in run.tail if CAUSE.search(line)][-3:]
    log = "; log: " + " | ".join(relevant) if relevant else ""
    return QuantizeError(f"{what} failed: {cause}{log}")


def _exit_reason(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"the worker died of {signal.Signals(-returncode).name}"
        except ValueError:
            return f"the worker died of signal {-returncode}"
    return f"exit code {returncode}"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.") or "model"


def output_paths(request: QuantizeRequest, models_dir: Path) -> tuple[str, Path]:
    """The id of the result (`<catalog id or stem>:<TYPE>` unless given) and its file,
    named after that id under models_dir/<base>/, so two ids never share a file."""
    source = request.source
    base = _slug(source.catalog_id or source.id.split(":")[0])
    model_id = request.model_id or f"{base}:{request.target}"
    return model_id, models_dir / base / f"{_slug(model_id.replace(':', '.'))}.gguf"


def free_destination(destination: Path, model_id: str, registry: LocalModels) -> Path:
    """`destination`, or a name made unique by the id's hash when a file is already there
    or another model is registered with that path (ids that slug alike: `a:b`, `a.b`)."""
    taken = {m.path for m in registry.all()}
    tag = hashlib.sha256(model_id.encode()).hexdigest()[:8]
    for candidate in (destination, destination.with_name(f"{destination.stem}-{tag}.gguf")):
        if candidate not in taken and not candidate.exists():
            return candidate
    raise ModelExistsError(f"{destination} is already in use; pick another --id")


class RequantizeRefusedError(QuantizeError):
    """Requantizing a quantized file without the user's consent; `warning` says what it
    costs, and each front end says how to give consent (a flag, a checkbox)."""

    def __init__(self, warning: str, how: str = "pass --allow-requantize") -> None:
        super().__init__(f"{warning}; {how} to do it anyway")
        self.warning = warning


def check_request(request: QuantizeRequest, registry: LocalModels, model_id: str) -> str | None:
    """Refuse what would lose data or quality silently; return the requantize warning."""
    quant_type(request.target)
    if not request.source.present:
        raise QuantizeError(f"{request.source.id}: {request.source.path} is missing")
    existing = registry.get(model_id)
    if existing is not None:
        raise ModelExistsError(
            f"a model with id {existing.id} already exists ({existing.path}); pick another "
            f"--id or `hostbench rm {existing.id}` first"
        )
    warning = requantize_warning(read_gguf_info(request.source.path).quant, request.target)
    if warning and not request.allow_requantize:
        raise RequantizeRefusedError(warning)
    return warning


def verify_output(path: Path, cancel: threading.Event | None = None) -> str:
    """Load the result in a child and check its next-token logits (finite, one per token of
    its vocabulary, not flat); return the greedy continuation it produced as a sample."""
    run = run_child(["verify", str(path)], cancel=cancel)
    report = _last_json(run.stdout)
    what = f"checking {path.name}"
    if report is None:
        raise _failure(what, run)
    if run.returncode != 0 or not report.get("ok"):
        raise _failure(what, run, str(report.get("error") or _exit_reason(run.returncode)))
    tokens = read_gguf_info(path).n_tokens
    if tokens and report.get("logits") != tokens:
        raise QuantizeError(
            f"{what} failed: {report.get('logits')} logits for the {tokens} tokens its header lists"
        )
    return str(report.get("text", ""))


def _last_json(stdout: str) -> dict[str, Any] | None:
    lines = stdout.strip().splitlines()
    try:
        found = json.loads(lines[-1]) if lines else None
    except json.JSONDecodeError:
        return None
    return found if isinstance(found, dict) else None


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
    where = destination.relative_to(models_dir).as_posix().lower()
    lock = models_dir / ".locks" / "quantize" / f"{where}.lock"  # ids that slug alike share it
    with exclusive(lock, cancel):
        warning = check_request(request, registry, model_id)
        if warning and on_warning is not None:
            on_warning(warning)
        destination = free_destination(destination, model_id, registry)
        check_free_disk(destination.parent, _upper_bound_bytes(request))
        run, seconds, sample = _write_checked(request, destination, progress, cancel)
        model = _register(
            request, registry, model_id=model_id, path=destination, seconds=seconds,
            fallback=run.fallback,
        )  # fmt: skip
    notes = tuple(filter(None, [warning, run.fallback]))
    return QuantizeOutcome(model, seconds, sample, notes)


def _write_checked(
    request: QuantizeRequest,
    destination: Path,
    progress: Progress | None,
    cancel: threading.Event | None,
) -> tuple[ChildRun, float, str]:
    """Quantize into `<destination>.partial`, check it, give it its name. The partial is
    removed only after `run_child` has ended and reaped the worker that writes it."""
    partial = destination.with_name(destination.name + ".partial")
    started = time.monotonic()
    try:
        run = _run_quantizer(request, partial, progress, cancel)
        seconds = time.monotonic() - started
        sample = verify_output(partial, cancel)
        os.replace(partial, destination)
    finally:
        partial.unlink(missing_ok=True)
    return run, seconds, sample


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
