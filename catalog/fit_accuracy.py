"""How close the memory estimate comes to what a real engine uses.

For each (model, context, flash attention) a child process imports llama-cpp-python,
reads its own RSS, loads the model, fills the context with a prompt (so the attention
working set at full length is touched) and generates a few tokens, then reads RSS again.
The growth is compared with `catalog.fit.estimate_cpu` for the same options. On a GPU
machine the VRAM side would be read from NVML's per-process memory; this script measures
the CPU side, which is what runs here.

    python -m catalog.fit_accuracy --model PATH [--ctx 512 2048 8192] [--flash-attn off on]

Prints a Markdown table on stdout (progress on stderr).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from catalog.fit import FitOptions, MiB, estimate_cpu
from catalog.fit_target import shape_of_file

FILLER = "The keeper climbed the stairs of the old lighthouse while the storm rose. "


@dataclass(frozen=True)
class Measurement:
    model: str
    n_ctx: int
    flash_attn: bool
    prompt_tokens: int
    rss_growth_bytes: int
    estimate_bytes: int
    seconds: float

    @property
    def error(self) -> float:
        return (self.estimate_bytes - self.rss_growth_bytes) / self.rss_growth_bytes


def _rss_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def child(path: str, n_ctx: int, flash_attn: bool, threads: int) -> dict[str, Any]:
    """Runs in the measured process: baseline, load, fill the context, generate."""
    import llama_cpp

    before = _rss_bytes()
    started = time.monotonic()
    model = llama_cpp.Llama(
        path, n_ctx=n_ctx, n_threads=threads, flash_attn=flash_attn, verbose=False
    )
    tokens = model.tokenize((FILLER * (n_ctx // 8 + 8)).encode())[: n_ctx - 16]
    model.eval(tokens)
    for _ in range(8):
        model.eval([model.sample()])
    return {
        "before": before,
        "after": _rss_bytes(),
        "prompt_tokens": len(tokens),
        "seconds": time.monotonic() - started,
    }


def measure(path: Path, n_ctx: int, flash_attn: bool, threads: int) -> Measurement:
    argv = [sys.executable, "-m", "catalog.fit_accuracy", "--child", str(path)]
    argv += ["--ctx", str(n_ctx), "--flash-attn", "on" if flash_attn else "off"]
    argv += ["--threads", str(threads)]
    done = subprocess.run(argv, capture_output=True, text=True, check=True)
    got = json.loads(done.stdout.strip().splitlines()[-1])
    options = FitOptions(n_ctx=n_ctx, flash_attn=flash_attn)
    estimate = estimate_cpu(shape_of_file(path, path.name), options).total_bytes
    return Measurement(
        path.name,
        n_ctx,
        flash_attn,
        got["prompt_tokens"],
        got["after"] - got["before"],
        estimate,
        got["seconds"],
    )


def table(rows: Sequence[Measurement]) -> str:
    lines = [
        "| model | n_ctx | flash attn | prompt tokens | RSS growth MiB | estimate MiB | error |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {m.model} | {m.n_ctx} | {'on' if m.flash_attn else 'off'} | {m.prompt_tokens} | "
        f"{m.rss_growth_bytes / MiB:.1f} | {m.estimate_bytes / MiB:.1f} | {m.error:+.1%} |"
        for m in rows
    ]
    return "\n".join(lines)


def machine_line() -> str:
    from importlib.metadata import version

    from hardware import discover

    snapshot = discover()
    cpu, ram = snapshot.cpu, snapshot.memory.ram_total_bytes / 2**30
    return (
        f"{cpu.model_name or cpu.architecture}, {cpu.physical_cores} cores, {ram:.0f} GiB RAM, "
        f"no GPU used, {snapshot.os}, Python {platform.python_version()}, "
        f"llama-cpp-python {version('llama_cpp_python')}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m catalog.fit_accuracy")
    parser.add_argument("--model", type=Path, action="append", help="GGUF file (repeatable)")
    parser.add_argument("--ctx", type=int, nargs="+", default=[512, 2048, 8192])
    parser.add_argument("--flash-attn", nargs="+", choices=["off", "on"], default=["off", "on"])
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--child", metavar="PATH", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        result = child(args.child, args.ctx[0], args.flash_attn[0] == "on", args.threads)
        print(json.dumps(result))
        return 0
    rows = []
    for path in args.model or []:
        for n_ctx in args.ctx:
            for flash in args.flash_attn:
                print(
                    f"measuring {path.name} at n_ctx {n_ctx}, flash attn {flash}", file=sys.stderr
                )
                rows.append(measure(path, n_ctx, flash == "on", args.threads))
    print(f"Machine: {machine_line()}\n")
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
