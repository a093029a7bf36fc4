"""Concurrency on llama.cpp, measured: aggregate output tokens/s at 1, 4 and 8 concurrent
streams for `hostbench launch` (llama-server, continuous batching) against
`python -m llama_cpp.server` on the same model in one run, and our single-stream decode
against `llama-bench`'s tg rate with the same threads. Markdown on stdout.

    python -m devtools.concurrency_bench [--model ID] [--threads 2] [--llama-bench PATH]
        [--as-launched]

The baseline is started as its users start it, plus `--interrupt_requests False`: with its
default it ends a running stream when another request arrives, so its answers would not be
complete and its "throughput" not comparable. Levels are measured one after the other,
each on both servers back to back, so both see the same machine state: first streamed
answers, ours through hostbench; then whole answers straight to each engine (no gateway,
and no client parsing tokens on the cores the engines use).

The single-stream decode is compared in rounds: one request straight to the engine and one
through hostbench, then llama-bench's tg rate, each round's rates divided by that round's
llama-bench rate (the machine's speed drifts more between minutes than the gaps being
measured). llama-bench runs twice: from an empty context (its usual tg figure), and from
as many tokens as the requests' prompt (`-d`), since a served request's tokens attend to
its prompt and llama-bench's usual tg tokens attend to nothing before them; it is given
our launch's KV cache types and flash attention on, as `auto` gives on a CPU. Three
readings: the engine's own timings, and 1 / TPOT as the client saw it, direct and through
hostbench.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import statistics
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.background import BackgroundServer
from app.cli.commands.bench import request_body, start_baseline
from bench.loadgen import ChatSender, StreamSample, stream_chat, unary_chat
from bench.overhead import aggregate_throughput, alternate
from bench.report import describe_machine
from catalog import LocalModel, LocalModels, load_catalog, resolve_model
from control.channel import engine_headers
from engines.llamacpp import build
from engines.process import free_port
from hardware import discover
from profiles import Locations

LEVELS = (1, 4, 8)
NO_INTERRUPTS = ("--interrupt_requests", "False")
"""The baseline finishes every concurrent answer (its default cuts them off)."""


def llama_bench_tg(
    binary: Path,
    model: LocalModel,
    threads: int,
    tokens: int,
    depths: Sequence[int] = (0,),
    *,
    cache: tuple[str, str] = ("f16", "f16"),
    repetitions: int = 2,
) -> dict[int, float]:
    """llama-bench's generation rate (tg) for `tokens` tokens with `threads` threads, at each
    context depth (the tokens already in the cache when generation starts), with the K and V
    cache types of the launch it is compared with and flash attention on (what `auto`
    chooses on a CPU)."""
    argv = [str(binary), "-m", str(model.path), "-t", str(threads), "-p", "0", "-n", str(tokens)]
    argv += ["-d", ",".join(str(d) for d in depths), "-r", str(repetitions), "-o", "csv"]
    argv += ["-ctk", cache[0], "-ctv", cache[1], "-fa", "1"]
    done = subprocess.run(argv, capture_output=True, text=True, check=True)
    return tg_by_depth(done.stdout)


def tg_by_depth(csv_text: str) -> dict[int, float]:
    """avg_ts of each row of llama-bench's CSV, by its n_depth."""
    rows = list(csv.DictReader(line for line in csv_text.splitlines() if line.strip()))
    return {int(row["n_depth"]): float(row["avg_ts"]) for row in rows}


@dataclass(frozen=True)
class DecodeRound:
    """One round of the single-stream comparison: one request straight to the engine and one
    through hostbench, back to back, then llama-bench's tg rate from an empty context and
    from the requests' prompt length (tok/s; None where a request failed or the engine
    reported no timings). The second is the like-for-like figure: each generated token
    attends to the prompt too, which on a small model costs a tenth of the rate here."""

    llama_bench: float
    engine_own: float | None
    direct: float | None
    gateway: float | None
    llama_bench_at_prompt: float | None = None
    prompt_tokens: int | None = None

    @classmethod
    def of(cls, tg: dict[int, float], direct: StreamSample, gateway: StreamSample) -> DecodeRound:
        timings = direct.engine_timings if direct.ok else None
        return cls(
            tg[0],
            timings.decode_tokens_per_s if timings else None,
            _decode_rate(direct),
            _decode_rate(gateway),
            tg.get(direct.prompt_tokens) if direct.prompt_tokens else None,
            direct.prompt_tokens,
        )


def _decode_rate(sample: StreamSample) -> float | None:
    """1 / TPOT as the client saw it."""
    return 1000.0 / sample.tpot_ms if sample.ok and sample.tpot_ms else None


def decode_rows(rounds: Sequence[DecodeRound], threads: int, tokens: int) -> list[str]:
    """Each way of reading the single-stream rate against llama-bench in the same round:
    from an empty context, and (where known) from the requests' prompt length."""
    prompts = [r.prompt_tokens for r in rounds if r.prompt_tokens]
    at_prompt = f"tg{tokens} @ d{statistics.median_low(prompts)}" if prompts else None
    rows = [
        f"| 1 stream, {tokens} tokens, llama-bench -t {threads} in the same round "
        f"| median tok/s | ratio to tg{tokens} | range |"
        + (f" ratio to {at_prompt} | range |" if at_prompt else ""),
        "|---|---|---|---|" + ("---|---|" if at_prompt else ""),
        f"| llama-bench tg{tokens} | {_median([r.llama_bench for r in rounds])} | | |"
        + (" | |" if at_prompt else ""),
    ]
    if at_prompt:
        rates = [r.llama_bench_at_prompt for r in rounds if r.llama_bench_at_prompt]
        rows.append(f"| llama-bench {at_prompt} | {_median(rates)} | | | | |")
    readings = {
        "the engine's own timings (direct request)": [(r.engine_own, r) for r in rounds],
        "client, direct to the engine (1 / TPOT)": [(r.direct, r) for r in rounds],
        "client, through hostbench (1 / TPOT)": [(r.gateway, r) for r in rounds],
    }
    for name, pairs in readings.items():
        rates = [rate for rate, _ in pairs if rate]
        if not rates:
            continue
        cells = _ratio_cells([(rate, r.llama_bench) for rate, r in pairs])
        if at_prompt:
            cells += _ratio_cells([(rate, r.llama_bench_at_prompt) for rate, r in pairs])
        rows.append(f"| {name} | {_median(rates)} |{cells}")
    return rows


def paired_lines(rounds: Sequence[DecodeRound]) -> list[str]:
    """Through hostbench against direct, request by request: the two requests of a round
    are back to back, so a slow minute slows both and the ratio keeps what the gateway
    costs, where each against llama-bench (run after them) spreads far wider."""
    ratios = [r.gateway / r.direct for r in rounds if r.gateway and r.direct]
    if not ratios:
        return []
    spread = f"{min(ratios):.3f}–{max(ratios):.3f}"
    return [
        "",
        f"Through hostbench / direct, paired in each round: median {statistics.median(ratios):.3f} "
        f"(range {spread}, {len(ratios)} rounds)",
    ]


def _ratio_cells(pairs: Sequence[tuple[float | None, float | None]]) -> str:
    """'median | min-max |' of rate / reference over the rounds that have both."""
    ratios = [rate / ref for rate, ref in pairs if rate and ref]
    if not ratios:
        return " – | – |"
    return f" {statistics.median(ratios):.2f} | {min(ratios):.2f}–{max(ratios):.2f} |"


def _median(values: Sequence[float]) -> str:
    return f"{statistics.median(values):.1f}" if values else "–"


async def levels(
    urls: dict[str, str],
    body: dict[str, Any],
    send: ChatSender = stream_chat,
    headers: Mapping[str, Mapping[str, str]] | None = None,
) -> dict[str, dict[int, float]]:
    """Aggregate tok/s per server and level; both servers back to back at each level
    (`headers` by server name)."""
    found: dict[str, dict[int, float]] = {name: {} for name in urls}
    for level in LEVELS:
        for name, url in urls.items():
            requests = max(4, 2 * level)
            sent = (headers or {}).get(name)
            rate, samples = await aggregate_throughput(
                url, body, requests, level, send, headers=sent
            )
            complete = sum(1 for s in samples if s.ok and s.output_tokens == body["max_tokens"])
            if complete < len(samples):
                note = f"{name} at {level} streams: {complete}/{len(samples)} complete answers"
                print(f"warning: {note}", file=sys.stderr)
            found[name][level] = rate
    return found


def ratio_rows(runs: list[dict[str, dict[int, float]]]) -> list[str]:
    """One row per level: each repetition's figures for ours (the first server) and the
    baseline (the second), and the median of their ratios."""
    ours_name, base_name = runs[0]
    rows = [
        f"| in flight | {ours_name} tok/s (each repetition) | {base_name} tok/s "
        "(each repetition) | median ratio |",
        "|---|---|---|---|",
    ]
    for n in LEVELS:
        ours = [run[ours_name][n] for run in runs]
        base = [run[base_name][n] for run in runs]
        ratio = statistics.median(o / b for o, b in zip(ours, base, strict=True))
        rows.append(f"| {n} | {_figures(ours)} | {_figures(base)} | {ratio:.2f}x |")
    return rows


def _figures(values: list[float]) -> str:
    return " / ".join(f"{v:.1f}" for v in values)


@dataclass
class Session:
    """Both servers, started once for every repetition; `engine_url` is the engine behind
    our launch, for the single-stream rounds."""

    args: argparse.Namespace
    model: LocalModel
    urls: dict[str, str]
    engine_url: str
    engine_key: Mapping[str, str]
    """What the engine behind our launch wants with a request (its API key)."""
    body: dict[str, Any]
    cache: tuple[str, str]
    """The launch's K and V cache types, which llama-bench is given too."""

    def repetition(self) -> dict[str, dict[int, float]]:
        return asyncio.run(levels(self.urls, self.body))

    def engines_alone(self) -> dict[str, dict[int, float]]:
        """The same levels, whole answers straight to each engine: no gateway, and no
        client parsing tokens on the cores the engines use."""
        urls = {
            "our launch's llama-server": self.engine_url,
            "llama_cpp.server": self.urls["llama_cpp.server"],
        }
        keys = {"our launch's llama-server": self.engine_key}
        return asyncio.run(levels(urls, self.body, unary_chat, keys))

    def decode_round(self, binary: Path) -> DecodeRound:
        args = self.args
        paths = {"direct": self.engine_url, "gateway": self.urls["hostbench launch"]}
        found = asyncio.run(alternate(paths, self.body, 1, headers={"direct": self.engine_key}))
        direct = found["direct"].samples[0]
        depths = sorted({0, direct.prompt_tokens or 0})
        tg = llama_bench_tg(
            binary, self.model, args.threads, args.max_tokens, depths, cache=self.cache
        )
        return DecodeRound.of(tg, direct, found["gateway"].samples[0])


def report(session: Session, launch: list[str], runtime: str) -> list[str]:
    args = session.args
    runs = [session.repetition() for _ in range(args.repeat)]
    lines = [f"Machine: {describe_machine(discover())}", ""]
    kv = "/".join(session.cache)
    lines += [f"Our launch: {runtime}, `hostbench launch {' '.join(launch)}`, KV cache {kv}", ""]
    lines += ["Streamed answers, ours through hostbench:", "", *ratio_rows(runs)]
    alone = [session.engines_alone() for _ in range(args.repeat)]
    lines += ["", "Whole answers (not streamed), straight to each engine:", ""]
    lines += ratio_rows(alone)
    if args.llama_bench is not None:
        rounds = [session.decode_round(args.llama_bench) for _ in range(args.rounds)]
        lines += ["", *decode_rows(rounds, args.threads, args.max_tokens)]
        lines += paired_lines(rounds)
    return lines


def measure(args: argparse.Namespace, model: LocalModel, logs: Path) -> list[str]:
    fixed = ["--parallel", "8", "--threads", str(args.threads), "--ctx-size", "2048"]
    launch = [args.model, *([] if args.as_launched else fixed), *args.launch_option]
    server = BackgroundServer(launch, free_port(), logs / "server.stderr")
    baseline_port, baseline = free_port(), None
    try:
        ready = server.wait_ready()
        baseline = start_baseline(
            model, baseline_port, logs / "baseline.log", NO_INTERRUPTS, timeout_s=180
        )
        urls = {
            "hostbench launch": f"{server.base_url}/v1",
            "llama_cpp.server": f"http://127.0.0.1:{baseline_port}/v1",
        }
        body = request_body(ready["name"], model, args.max_tokens)
        engine_url = f"http://127.0.0.1:{ready['port']}/v1"
        options = ready["options"]
        cache = (options["cache_type_k"], options["cache_type_v"])
        key = engine_headers(Locations.from_env().token_file)
        session = Session(args, model, urls, engine_url, key, body, cache)
        return report(session, launch, ready["runtime"])
    finally:
        server.stop()
        if baseline is not None:
            baseline.terminate()
            baseline.wait(30)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument(
        "--rounds", type=int, default=10, help="single-stream rounds against llama-bench"
    )
    parser.add_argument(
        "--llama-bench", type=Path, help="llama-bench for the tg rate (default: the set-up's)"
    )
    parser.add_argument("--repeat", type=int, default=3, help="repetitions in one run")
    parser.add_argument(
        "--launch-option", action="append", default=[], help="extra `hostbench launch` flag"
    )
    parser.add_argument(
        "--as-launched",
        action="store_true",
        help="ours as `hostbench launch MODEL` starts it here, no flags (its defaults, or the "
        "model's tuned profile where one exists)",
    )
    args = parser.parse_args(argv)
    if args.llama_bench is None:
        built = build.make_plan(dict(os.environ)).native_dir / "llama-bench"
        args.llama_bench = built if built.is_file() else None
    model, locations = local_model(args.model)
    print("\n".join(measure(args, model, locations.logs_dir / "concurrency-bench")))
    return 0


def local_model(model_id: str) -> tuple[LocalModel, Locations]:
    """The model on this machine (pulled if needed), and where hostbench keeps things."""
    from storage import Store

    locations = Locations.from_env().ensure()
    registry = LocalModels(Store(locations.store_path))
    return resolve_model(model_id, load_catalog(), registry, locations.models_dir), locations


if __name__ == "__main__":
    sys.exit(main())
