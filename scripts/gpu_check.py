"""The measuring half of the GPU check (docs/benchmarks.md, "GPU check"); run by
scripts/gpu-check on a lent GPU machine, which has no network and none of hostbench's
dependencies beyond pynvml and psutil: this file uses the standard library, the project's
`hardware` package (NVML through the same code as `hostbench gpus`) and the decode-bound
function of bench/limits.py (loaded by path: the `bench` package needs sqlite-utils).

Steps, each bounded by the deadline, results written after each (results.json,
results.md in --out):
1. NVML as hostbench reads it against `nvidia-smi`, idle and with the engine loaded;
2. wait for the CUDA build started by scripts/gpu-start-build, printing its progress;
3. for each case in plan.json (three context sizes, flash attention on, then off):
   llama-server with every layer offloaded, its per-process VRAM once ready and after a
   long prompt, against hostbench's fit estimate made beforehand (scripts/gpu-prepare);
4. decode speed: llama-server's own timings of 256-token answers and llama-bench tg128,
   against the decode bound;
5. energy per output token from NVML's total-energy counter over a timed decode run, with
   the idle power over the same engine measured first and subtracted; and the same run's
   power readings, taken once a second and integrated as bench/power_readings.py does for
   a GPU without a counter, against the counter.

On a machine without a GPU, `--replay-nvml FIXTURE` runs every step against the CPU build
and a recorded NVML reading, so the script's own errors show here, not on the device.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MiB = 1 << 20
STORY = "Tell me a story about a lighthouse."
FILLER = "The keeper climbed the stairs of the old lighthouse and lit the lamp again. "
SMI_FIELDS = (
    "name", "driver_version", "memory.total", "memory.used", "memory.free", "power.draw",
    "power.limit", "temperature.gpu", "utilization.gpu", "utilization.memory",
    "pcie.link.gen.current", "pcie.link.width.current", "compute_cap",
)  # fmt: skip


def say(message: str) -> None:
    print(f"[gpu_check {time.strftime('%H:%M:%S')}] {message}", flush=True)


class Check:
    """The run's state: where things are, the deadline, and the results so far."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.work: Path = args.work
        self.out: Path = args.out
        self.plan: dict[str, Any] = json.loads((self.work / "plan.json").read_text())
        self.model = args.model or self.work / "model.gguf"
        self.results: dict[str, Any] = {"started": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
        self.reader = make_reader(args.replay_nvml)
        self.logs = self.work / "logs" / time.strftime("%H%M%S")
        self.logs.mkdir(parents=True, exist_ok=True)

    def pack_logs(self) -> None:
        """Engine, llama-bench and build logs as one file: a call returns at most 8 files."""
        with tarfile.open(self.out / "logs.tar.gz", "w:gz") as archive:
            archive.add(self.logs, arcname="logs")
            for extra in (self.work / "build.out", self.work / "build" / "logs"):
                if extra.exists():
                    archive.add(extra, arcname=f"build/{extra.name}")

    def left_s(self) -> float:
        return self.args.deadline - time.time()

    def save(self) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "results.json").write_text(json.dumps(self.results, indent=1, default=str))
        (self.out / "results.md").write_text(markdown(self.results))


# ---- NVML through hostbench's hardware package, and nvidia-smi ----------------------------


def make_reader(replay: Path | None) -> Any:
    """hostbench's MachineReader on the real NVML, or on a recorded reading (no GPU here)."""
    from hardware import GpuFactsTable, MachineReader, NvidiaBackend

    if replay is None:
        return MachineReader(backends=[NvidiaBackend(facts=GpuFactsTable.load())])
    from hardware.nvml_replay import RecordedNvml

    recorded = RecordedNvml.from_file(replay)
    backend = NvidiaBackend(api_factory=lambda: recorded, facts=GpuFactsTable.load())
    return MachineReader(backends=[backend])


def gpu0(check: Check) -> Any:
    snapshot = check.reader.read()
    if not snapshot.gpus:
        raise RuntimeError(f"hostbench sees no NVIDIA GPU: {snapshot.backends}")
    return snapshot.gpus[0]


def smi_query() -> dict[str, str] | None:
    """One `nvidia-smi --query-gpu` row for GPU 0, or None where nvidia-smi is absent."""
    if shutil.which("nvidia-smi") is None:
        return None
    cmd = ["nvidia-smi", "-i", "0", f"--query-gpu={','.join(SMI_FIELDS)}"]
    done = run([*cmd, "--format=csv,noheader,nounits"], 20)
    values = [v.strip() for v in done.stdout.strip().split(",")]
    return dict(zip(SMI_FIELDS, values, strict=False))


def smi_apps() -> dict[int, int] | None:
    """pid -> used MiB of compute processes, as nvidia-smi lists them."""
    if shutil.which("nvidia-smi") is None:
        return None
    query = ["--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits"]
    done = run(["nvidia-smi", *query], 20)
    apps = {}
    for line in done.stdout.strip().splitlines():
        if line.count(",") != 1:
            continue
        pid, used = (v.strip() for v in line.split(","))
        apps[int(pid)] = int(used) if used.isdigit() else -1
    return apps


def nvml_vs_smi(check: Check, label: str) -> dict[str, Any]:
    """The same figures from hostbench's NVML reading and from nvidia-smi, side by side."""
    gpu, smi = gpu0(check), smi_query()
    ours = {
        "name": gpu.name,
        "driver_version": gpu.driver_version,
        "memory.total": _mib(gpu.memory_total_bytes),
        "memory.used": _mib(gpu.memory_used_bytes),
        "memory.free": _mib(gpu.memory_free_bytes),
        "power.draw": gpu.power_draw_w,
        "power.limit": gpu.power_limit_w,
        "temperature.gpu": gpu.temperature_c,
        "utilization.gpu": gpu.utilization_gpu_percent,
        "utilization.memory": gpu.utilization_memory_percent,
        "pcie.link.gen.current": gpu.pcie_generation,
        "pcie.link.width.current": gpu.pcie_width,
        "compute_cap": gpu.compute_capability,
    }
    rows = [{"field": k, "hostbench": v, "nvidia-smi": (smi or {}).get(k)} for k, v in ours.items()]
    for row in rows:
        ours_text = f"hostbench {row['hostbench']!s:<24}"
        say(f"  {label}: {row['field']:<24} {ours_text} nvidia-smi {row['nvidia-smi']}")
    return {"label": label, "rows": rows, "energy_total_mj": gpu.energy_total_mj}


def _mib(value: int | None) -> float | None:
    return None if value is None else round(value / MiB, 1)


def record_nvml(check: Check) -> None:
    """The reading in hostbench's replay format, to commit as a fixture for this card."""
    if check.args.replay_nvml is not None:
        return
    source = f"GPU check on a lent machine, {time.strftime('%Y-%m-%d')}"
    done = run([sys.executable, "-m", "hardware.nvml_replay", "--source", source], 60)
    (check.out / "nvml-recorded.json").write_text(done.stdout)
    say(f"NVML reading recorded to {check.out / 'nvml-recorded.json'} (exit {done.returncode})")


def engine_vram(check: Check, pid: int) -> dict[str, Any]:
    """The engine's VRAM as the driver accounts it per process: hostbench's NVML reading
    and nvidia-smi's compute-apps list."""
    gpu = gpu0(check)
    processes = list(gpu.processes or ())
    mine = [p for p in processes if p.pid == pid]
    note = None
    if not mine and len(processes) == 1:
        mine, note = processes, f"pid {pid} not listed; the one GPU process taken"
    used = mine[0].used_memory_bytes if mine else None
    apps = smi_apps()
    return {
        "nvml_mib": _mib(used),
        "smi_mib": None if apps is None else apps.get(pid, apps.get(mine[0].pid) if mine else None),
        "gpu_used_mib": _mib(gpu.memory_used_bytes),
        "note": note,
    }


# ---- the build ------------------------------------------------------------------------------


def wait_for_build(check: Check, reserve_s: float) -> tuple[Path, Path] | None:
    """The built llama-server and llama-bench, waiting (with progress) while time allows."""
    if check.args.server_bin:
        return check.args.server_bin, check.args.bench_bin
    last = ""
    while True:
        built = check.work.glob("build/llama-cpp/*/llama-server")
        found = sorted(p for p in built if not p.parent.name.endswith(".partial"))
        if found:
            say(f"build ready: {found[0].parent}")
            return found[0], found[0].parent / "llama-bench"
        rc = check.work / "build.rc"
        if rc.is_file() and rc.read_text().strip() not in ("", "0"):
            say(f"error: the build failed (exit {rc.read_text().strip()}):")
            print(_tail(check.work / "build.out", 30), flush=True)
            return None
        if check.left_s() < reserve_s:
            say("error: the build is not finished and too little time is left to measure; "
                "run scripts/gpu-check again (nothing to carry)")  # fmt: skip
            return None
        progress = build_progress(check.work)
        if progress != last:
            say(f"waiting for the build: {progress}")
            last = progress
        time.sleep(10)


def build_progress(work: Path) -> str:
    started = work / "build.started"
    elapsed = int(time.time() - int(started.read_text())) if started.is_file() else -1
    logs = sorted((work / "build" / "logs").glob("native-*.log"), key=lambda p: p.stat().st_mtime)
    line = _tail(logs[-1], 1).strip()[:110] if logs else "no log yet"
    return f"{elapsed} s since start; {line}"


def _tail(path: Path, lines: int) -> str:
    if not path.is_file():
        return f"({path} missing)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


# ---- llama-server ---------------------------------------------------------------------------


class Server:
    """One llama-server with a plan case's arguments, on a free loopback port."""

    def __init__(self, check: Check, binary: Path, case: dict[str, Any]) -> None:
        self.port = free_port()
        fill = {"{model}": str(check.model), "{alias}": "gpu-check", "{port}": str(self.port)}
        fill["{threads}"] = str(check.args.threads or physical_cores())
        argv = [str(binary), *(fill.get(a, a) for a in case["launch_args"])]
        argv += check.args.server_arg
        self.log = (
            check.logs / f"server-{case['ctx']}-fa{'on' if case['flash_attn'] else 'off'}.log"
        )
        say(f"starting: {' '.join(argv)}")
        self.process = subprocess.Popen(
            argv, stdout=self.log.open("w"), stderr=subprocess.STDOUT, start_new_session=True
        )
        self.base = f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout_s: float) -> float:
        started = time.monotonic()
        while time.monotonic() - started < timeout_s:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"llama-server exited {self.process.returncode}:\n{_tail(self.log, 15)}"
                )
            try:
                if http_json(f"{self.base}/health", None, 2).get("status") == "ok":
                    return time.monotonic() - started
            except (OSError, ValueError):
                pass
            time.sleep(0.25)
        raise RuntimeError(f"llama-server not ready in {timeout_s:.0f} s:\n{_tail(self.log, 15)}")

    def complete(self, prompt: str | list[int], n_predict: int, timeout_s: float) -> dict[str, Any]:
        body = {"prompt": prompt, "n_predict": n_predict, "ignore_eos": True,
                "cache_prompt": False, "temperature": 0.0}  # fmt: skip
        return http_json(f"{self.base}/completion", body, timeout_s)

    def tokens(self, text: str) -> list[int]:
        return list(http_json(f"{self.base}/tokenize", {"content": text}, 30)["tokens"])

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)


def http_json(url: str, body: dict[str, Any] | None, timeout_s: float) -> dict[str, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout_s) as response:
        return dict(json.loads(response.read()))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def physical_cores() -> int:
    from hardware import physical_core_count

    return physical_core_count() or os.cpu_count() or 1


def long_prompt(server: Server, ctx: int, cap: int | None) -> list[int]:
    """Token ids filling ~90 % of what one slot takes: the context, or the model's training
    context where that is shorter (llama-server caps a slot there; the KV cache is still
    allocated for the whole context)."""
    settings = http_json(f"{server.base}/props", None, 10).get("default_generation_settings", {})
    slot_ctx = min(ctx, int(settings.get("n_ctx") or ctx))
    want = int(slot_ctx * 0.9) if cap is None else min(int(slot_ctx * 0.9), cap)
    unit = server.tokens(FILLER)
    return (unit * (want // max(1, len(unit)) + 1))[:want]


# ---- the cases ------------------------------------------------------------------------------


def run_case(check: Check, binary: Path, case: dict[str, Any], first: bool) -> dict[str, Any]:
    server = Server(check, binary, case)
    row: dict[str, Any] = {"ctx": case["ctx"], "flash_attn": case["flash_attn"],
                           "estimate_mib": round(case["estimate_gpu_bytes"] / MiB, 1)}  # fmt: skip
    try:
        row["ready_s"] = round(server.wait_ready(min(180.0, check.left_s())), 2)
        time.sleep(1)  # the driver's per-process figure lags an allocation briefly
        row["ready"] = engine_vram(check, server.process.pid)
        prompt = long_prompt(server, case["ctx"], check.args.max_prompt_tokens)
        answer = server.complete(prompt, 8, max(30.0, min(300.0, check.left_s())))
        row["prompt_tokens"] = answer.get("timings", {}).get("prompt_n", len(prompt))
        row["prompt_tokens_per_s"] = answer.get("timings", {}).get("prompt_per_second")
        time.sleep(1)
        row["after_prompt"] = engine_vram(check, server.process.pid)
        row["error_percent"] = error_percent(row)
        say(f"case ctx {case['ctx']} fa {case['flash_attn']}: {json.dumps(row)}")
        if first:
            check.results["nvml_vs_smi_loaded"] = nvml_vs_smi(check, "engine loaded")
            check.save()
            check.results["decode"] = _guarded(lambda: decode(check, server))
            check.save()
            check.results["energy"] = _guarded(lambda: energy(check, server))
    finally:
        server.stop()
    return row


def error_percent(row: dict[str, Any]) -> float | None:
    measured = row["after_prompt"]["nvml_mib"] or row["after_prompt"]["smi_mib"]
    if not measured:
        return None
    return round(100.0 * (row["estimate_mib"] / measured - 1), 1)


def decode(check: Check, server: Server) -> dict[str, Any]:
    """llama-server's own timings of 256-token answers (one warm-up first)."""
    server.complete(STORY, 16, 60)
    runs = []
    for _ in range(check.args.reps):
        timings = server.complete(STORY, check.args.answer_tokens, 120)["timings"]
        runs.append({"predicted_n": timings["predicted_n"],
                     "tokens_per_s": round(timings["predicted_per_second"], 1),
                     "prompt_n": timings["prompt_n"]})  # fmt: skip
        say(f"decode: {runs[-1]}")
    rates = sorted(r["tokens_per_s"] for r in runs)
    result = {"runs": runs, "median_tokens_per_s": rates[len(rates) // 2]}
    result["bound"] = bound_for(check, runs[0]["prompt_n"] + check.args.answer_tokens / 2)
    if result["bound"]:
        result["percent_of_bound"] = round(
            100 * result["median_tokens_per_s"] / result["bound"]["bound_tokens_per_s"], 2
        )
    return result


def load_limits() -> Any:
    return load_bench_module("limits")


def load_bench_module(name: str) -> Any:
    """bench/NAME.py by path: importing the `bench` package would need sqlite-utils."""
    path = ROOT / "bench" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"hostbench_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def bound_for(check: Check, context_tokens: float) -> dict[str, Any] | None:
    """The project's decode bound with this card's bandwidth from the GPU facts table and
    the model's weights and KV bytes per token precomputed by scripts/gpu-prepare."""
    limits = load_limits()
    gpu = gpu0(check)
    inputs = check.plan["bound"].get("NVIDIA H200") or next(iter(check.plan["bound"].values()))
    if gpu.facts is None or not gpu.facts.memory_bandwidth_gbps:
        say(f"no GPU facts for {gpu.name!r}: no bound")
        return None
    bandwidth = limits.Bandwidth(gpu.facts.memory_bandwidth_gbps, f"GPU facts: {gpu.facts.name}")
    kv = int(inputs["kv_bytes_per_token"] * context_tokens)
    return dict(limits.decode_bound(bandwidth, inputs["weights_bytes"], kv, 1).as_dict())


def energy(check: Check, server: Server) -> dict[str, Any]:
    """J per output token over a timed single-stream decode run, gross and with the idle
    power (same engine loaded, nothing running) subtracted."""
    idle_s, run_s = check.args.idle_s, check.args.energy_s
    e0, t0 = gpu0(check).energy_total_mj, time.monotonic()
    time.sleep(idle_s)
    e1, t1 = gpu0(check).energy_total_mj, time.monotonic()
    if e0 is None or e1 is None:
        return {"error": "NVML gives no total-energy counter on this GPU"}
    idle_w = (e1 - e0) / 1000 / (t1 - t0)
    tokens, started = 0, time.monotonic()
    e2 = gpu0(check).energy_total_mj
    sampler = PowerSampler(check)
    sampler.start()
    while time.monotonic() - started < run_s:
        tokens += server.complete(STORY, check.args.answer_tokens, 120)["timings"]["predicted_n"]
    sampler.stop()
    e3, wall = gpu0(check).energy_total_mj, time.monotonic() - started
    joules = (e3 - e2) / 1000
    net = joules - idle_w * wall
    sampled = sampler.joules()
    result = {"idle_w": round(idle_w, 1), "idle_s": round(t1 - t0, 1), "run_s": round(wall, 1),
              "tokens": tokens, "joules": round(joules, 1), "mean_w": round(joules / wall, 1),
              "j_per_token": round(joules / tokens, 4), "net_j_per_token": round(net / tokens, 4),
              "wh_per_1m_tokens": round(joules / tokens * 1e6 / 3600, 1),
              "net_wh_per_1m_tokens": round(net / tokens * 1e6 / 3600, 1)}  # fmt: skip
    if sampled is not None and joules > 0:
        sampled_joules, readings = sampled
        off_pct = round(100 * (sampled_joules / joules - 1), 1)
        result |= {"sampled_j": round(sampled_joules, 1), "sampled_readings": readings,
                   "sampled_vs_counter_pct": off_pct}  # fmt: skip
    say(f"energy: {result}")
    return result


class PowerSampler:
    """NVML's power reading once a second in a thread, integrated as hostbench does for a
    GPU that has no energy counter (bench/power_readings.py, `trapezoid_joules`)."""

    def __init__(self, check: Check) -> None:
        import threading

        self.check = check
        self.points: list[tuple[float, float]] = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.done.set()
        self.thread.join(5)

    def _run(self) -> None:
        while True:
            watts = gpu0(self.check).power_draw_w
            if watts is not None:
                self.points.append((time.monotonic(), watts))
            if self.done.wait(1.0):
                return

    def joules(self) -> tuple[float, int] | None:
        """(joules over the readings' span, readings); None with fewer than two."""
        if len(self.points) < 2:
            return None
        return load_bench_module("power_readings").trapezoid_joules(self.points), len(self.points)


def llama_bench(check: Check, binary: Path) -> dict[str, Any]:
    """llama-bench tg128 (--bench-tokens) with every layer offloaded and flash attention on."""
    cmd = [str(binary), "-m", str(check.model), "-ngl", "99", "-fa", "1", "-p", "0"]
    cmd += ["-n", str(check.args.bench_tokens), "-r", str(check.args.reps), "-o", "json"]
    say(f"running: {' '.join(cmd)}")
    done = run(cmd, max(10.0, min(180.0, check.left_s() - 5)))
    (check.logs / "llama-bench.txt").write_text(done.stdout + done.stderr)
    rows = json.loads(done.stdout)
    result = {"avg_ts": round(rows[0]["avg_ts"], 1), "stddev_ts": round(rows[0]["stddev_ts"], 1),
              "n_gen": rows[0]["n_gen"], "backend": rows[0].get("backends")}  # fmt: skip
    result["bound"] = bound_for(check, check.args.bench_tokens / 2)
    if result["bound"]:
        result["percent_of_bound"] = round(
            100 * result["avg_ts"] / result["bound"]["bound_tokens_per_s"], 2
        )
    say(f"llama-bench: {result}")
    return result


def run(cmd: list[str], timeout_s: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)


# ---- the report -----------------------------------------------------------------------------


def markdown(results: dict[str, Any]) -> str:
    lines = [f"GPU check, {results.get('started')}: {results.get('machine', '?')}", ""]
    lines += _nvml_table(results) + _vram_table(results) + _speed_lines(results)
    return "\n".join(lines) + "\n"


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join("-" if v is None else str(v) for v in row) + " |" for row in rows]
    return [*out, ""]


def _nvml_table(results: dict[str, Any]) -> list[str]:
    idle = (results.get("nvml_vs_smi_idle") or {}).get("rows", [])
    loaded = {r["field"]: r for r in (results.get("nvml_vs_smi_loaded") or {}).get("rows", [])}
    if not idle:
        return []
    rows = []
    for row in idle:
        other = loaded.get(row["field"], {})
        rows.append([row["field"], row["hostbench"], row["nvidia-smi"],
                     other.get("hostbench"), other.get("nvidia-smi")])  # fmt: skip
    header = ["field", "hostbench idle", "nvidia-smi idle", "hostbench loaded", "nvidia-smi loaded"]
    return _table(header, rows)


def _vram_table(results: dict[str, Any]) -> list[str]:
    rows = []
    for row in results.get("cases") or []:
        flash = "on" if row["flash_attn"] else "off"
        if "after_prompt" not in row:
            first_line = str(row.get("error", "?")).splitlines()[0]
            rows.append([row["ctx"], flash, f"failed: {first_line}", None, None, None, None])
            continue
        ready, after, error = row["ready"], row["after_prompt"], row["error_percent"]
        rows.append([row["ctx"], flash, f"{ready['nvml_mib']} / {ready['smi_mib']}",
                     f"{after['nvml_mib']} / {after['smi_mib']}", row["prompt_tokens"],
                     row["estimate_mib"], None if error is None else f"{error:+.1f}%"])  # fmt: skip
    header = ["ctx", "flash attn", "ready MiB (NVML / smi)", "after prompt MiB (NVML / smi)",
              "prompt tokens", "estimate MiB", "error"]  # fmt: skip
    return _table(header, rows) if rows else []


def _speed_lines(results: dict[str, Any]) -> list[str]:
    lines = []
    labels = {
        "decode": f"llama-server timings, {results.get('answer_tokens')}-token answers (median)",
        "llama_bench": f"llama-bench tg{results.get('bench_tokens')} (mean)",
    }
    for key, label in labels.items():
        got = results.get(key) or {}
        rate = got.get("median_tokens_per_s", got.get("avg_ts"))
        if rate is None:
            continue
        bound = (got.get("bound") or {}).get("bound_tokens_per_s")
        of_bound = f"{got.get('percent_of_bound')} % of the {bound:.0f} tok/s bound"
        lines.append(f"- decode, {label}: {rate} tok/s ({of_bound if bound else 'no bound'})")
    power = results.get("energy") or {}
    if "j_per_token" in power:
        lines.append(
            f"- energy, 1 stream: {power['j_per_token']} J/token gross "
            f"({power['wh_per_1m_tokens']} Wh per 1M tokens); {power['net_j_per_token']} J/token "
            f"net of {power['idle_w']} W idle ({power['net_wh_per_1m_tokens']} Wh per 1M); "
            f"{power['tokens']} tokens in {power['run_s']} s at {power['mean_w']} W mean"
        )
        if "sampled_j" in power:
            lines.append(
                f"- energy from power readings once a second, integrated: {power['sampled_j']} J "
                f"from {power['sampled_readings']} readings, {power['sampled_vs_counter_pct']:+} % "
                f"against the counter's {power['joules']} J"
            )
    elif power:
        lines.append(f"- energy: {power.get('error')}")
    return lines


# ---- main -----------------------------------------------------------------------------------


def selected_cases(check: Check) -> list[dict[str, Any]]:
    cases = check.plan["cases"]
    if check.args.contexts:
        wanted = {int(c) for c in check.args.contexts.split(",")}
        cases = [c for c in cases if c["ctx"] in wanted]
    if check.args.flash_only:
        cases = [c for c in cases if c["flash_attn"]]
    return sorted(cases, key=lambda c: (not c["flash_attn"], c["ctx"]))


def measure(check: Check) -> int:
    gpu = gpu0(check)
    check.results["machine"] = (f"{gpu.name}, driver {gpu.driver_version}, CUDA driver "
                                f"{gpu.cuda_driver_version}, {os.cpu_count()} CPUs")  # fmt: skip
    say(f"machine: {check.results['machine']}")
    check.results["nvml_vs_smi_idle"] = nvml_vs_smi(check, "idle")
    record_nvml(check)
    check.save()
    check.results["answer_tokens"] = check.args.answer_tokens
    check.results["bench_tokens"] = check.args.bench_tokens
    binaries = wait_for_build(check, reserve_s=check.args.reserve_s)
    if binaries is None:
        return 3
    server_bin, bench_bin = binaries
    check.results["cases"] = []
    for i, case in enumerate(selected_cases(check)):
        if check.left_s() < 25:
            say(f"skipping ctx {case['ctx']} fa {case['flash_attn']}: {check.left_s():.0f} s left")
            continue
        try:
            check.results["cases"].append(run_case(check, server_bin, case, first=i == 0))
        except (RuntimeError, OSError, ValueError, KeyError, subprocess.TimeoutExpired) as error:
            say(f"error in case ctx {case['ctx']} fa {case['flash_attn']}: {error}")
            check.results["cases"].append(
                {"ctx": case["ctx"], "flash_attn": case["flash_attn"], "error": str(error)}
            )
        check.save()
        if i == 0 and check.left_s() > 30:
            check.results["llama_bench"] = _guarded(lambda: llama_bench(check, bench_bin))
            check.save()
    return 0 if all("error" not in c for c in check.results["cases"]) else 1


def _guarded(step: Any) -> dict[str, Any]:
    try:
        return dict(step())
    except (
        RuntimeError,
        OSError,
        ValueError,
        KeyError,
        IndexError,
        subprocess.TimeoutExpired,
    ) as error:
        say(f"error: {error}")
        return {"error": str(error)}


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Measure hostbench's GPU figures (docs/benchmarks.md)."
    )
    parser.add_argument("--work", type=Path, required=True, help="folder call 1 filled")
    parser.add_argument("--out", type=Path, required=True, help="folder for the results")
    parser.add_argument("--deadline", type=float, default=time.time() + 450, help="epoch seconds")
    parser.add_argument("--model", type=Path, help="GGUF (default WORK/model.gguf)")
    parser.add_argument("--server-bin", type=Path, help="llama-server (default: WORK's build)")
    parser.add_argument("--bench-bin", type=Path, help="llama-bench (with --server-bin)")
    parser.add_argument(
        "--server-arg",
        action="append",
        default=[],
        help="one more llama-server argument (repeatable), e.g. --server-arg=-nr",
    )
    parser.add_argument("--replay-nvml", type=Path, help="recorded NVML reading (no GPU here)")
    parser.add_argument("--contexts", help="only these plan contexts, e.g. 4096,16384")
    parser.add_argument(
        "--flash-only", action="store_true", help="skip the flash-attention-off cases"
    )
    parser.add_argument("--max-prompt-tokens", type=int, help="cap the long prompt")
    parser.add_argument(
        "--threads", type=int, help="llama-server threads (default: physical cores)"
    )
    parser.add_argument("--reps", type=int, default=5, help="decode and llama-bench repetitions")
    parser.add_argument("--answer-tokens", type=int, default=256, help="decode answer length")
    parser.add_argument("--bench-tokens", type=int, default=128, help="llama-bench -n")
    parser.add_argument("--idle-s", type=float, default=5.0, help="idle power window")
    parser.add_argument("--energy-s", type=float, default=12.0, help="timed decode run")
    parser.add_argument("--reserve-s", type=float, default=120.0, help="time kept for measuring")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    check = Check(parse(argv))
    commit = check.plan["commit"][:10]
    say(f"{check.left_s():.0f} s until the deadline; plan made at commit {commit}")
    try:
        return measure(check)
    except (RuntimeError, OSError, ValueError) as error:
        say(f"error: {error}")
        check.results["error"] = str(error)
        return 1
    finally:
        check.save()
        check.pack_logs()
        check.reader.close()
        say(f"results: {check.out / 'results.json'}, {check.out / 'results.md'}")
        print((check.out / "results.md").read_text(), flush=True)


if __name__ == "__main__":
    sys.exit(main())
