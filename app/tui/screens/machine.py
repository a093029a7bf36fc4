"""1 Machine: GPUs, CPU, RAM and disk with live sparklines from the server's sampler.

A machine without a GPU gets a card that says so and what it means for inference (models
run from RAM on the CPU's cores), with the reason each GPU library gave: that is a
configuration, not a failure.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.reactive import reactive, var
from textual.widget import Widget
from textual.widgets import Label, Static

from app.tui import readings
from app.tui.link import ServerView
from app.tui.present import NA, gib, human_bytes, percent, watts
from app.tui.screens.base import WorkbenchScreen
from app.tui.widgets.changing_text import ChangingText
from app.tui.widgets.meter import Meter

if TYPE_CHECKING:
    from hardware import GpuSnapshot, MachineSnapshot

History = tuple["MachineSnapshot", ...]
SHOWN = 160
"""Readings drawn: the widest sparkline, on a 200-column terminal."""


class Card(Vertical):
    """A bordered group of meters that redraws from the screen's `history`."""

    history: var[History] = var((), init=False, always_update=True)
    """The server's readings, oldest first (bound from MachineScreen.history). Always
    updated: comparing two windows of snapshots costs more than drawing them."""
    _composed = False

    def watch_history(self, history: History) -> None:
        """Draw once the card's own widgets exist: a card mounted with its binding gets the
        screen's readings before its children are composed (seen on a busy machine)."""
        if history and self._composed:
            self.draw(history, history[-1])

    def on_mount(self) -> None:
        """Mount comes after the children are composed and mounted."""
        self._composed = True
        self.watch_history(self.history)

    def draw(self, history: History, now: MachineSnapshot) -> None: ...

    def titles(self, title: str | None = None, subtitle: str | None = None) -> None:
        """Set the border texts only when they change (each set repaints the card)."""
        if title is not None and title != self.border_title:
            self.border_title = title
        if subtitle is not None and subtitle != self.border_subtitle:
            self.border_subtitle = subtitle


class GpuCard(Card):
    def __init__(self, index: int, name: str) -> None:
        super().__init__(id=f"gpu-{index}", classes="card gpu-card")
        self.index = index
        self.border_title = f"GPU {index} · {name}"

    def compose(self) -> ComposeResult:
        yield Meter("util", 100.0, id="util")
        yield Meter("memory", id="memory")
        yield Meter("power", id="power")
        yield Meter("temp", 100.0, id="temp")

    def draw(self, history: History, now: MachineSnapshot) -> None:
        g = readings.gpu(now, self.index)
        if g is None:
            return
        pick = readings.gpu_series
        self.query_one("#util", Meter).show(
            pick(history, self.index, lambda x: x.utilization_gpu_percent),
            percent(g.utilization_gpu_percent),
        )
        # A unified-memory GPU's meter is its share (Metal's budget), not all of the RAM.
        used, total = g.memory_used_bytes, g.gpu_budget_bytes or g.memory_total_bytes
        self.query_one("#memory", Meter).show(
            pick(history, self.index, readings.gpu_memory_used),
            f"{gib(used)} / {gib(total)}",
            float(total) if total else None,
        )
        limit = f" / {watts(g.power_limit_w)}" if g.power_limit_w else ""
        self.query_one("#power", Meter).show(
            pick(history, self.index, lambda x: x.power_draw_w),
            f"{watts(g.power_draw_w)}{limit}",
            g.power_limit_w,
        )
        self.query_one("#temp", Meter).show(
            pick(history, self.index, lambda x: x.temperature_c),
            NA if g.temperature_c is None else f"{g.temperature_c:.0f} °C",
        )
        self.titles(subtitle=gpu_subtitle(g))


def gpu_subtitle(gpu: GpuSnapshot) -> str:
    """A GPU card's subtitle. A Mac's GPU reports no driver version; what matters there is
    the share of unified memory macOS lets Metal use, as the fit uses it. The memory meter
    above is out of that share, so the subtitle says where it comes from (the macOS default
    or `iogpu.wired_limit_mb`), which fits the card where the figure and its basis would
    not ("Metal budget: macOS default, two-thirds of 32 GiB")."""
    facts = gpu.facts
    bandwidth = (
        f" · {facts.memory_bandwidth_gbps:.0f} GB/s"
        if facts and facts.memory_bandwidth_gbps
        else ""
    )
    if not gpu.unified_memory:
        return f"driver {gpu.driver_version or NA}{bandwidth}"
    share = "Metal budget" if gpu.vendor == "Apple" else "GPU budget"
    if gpu.gpu_budget_bytes is None:
        return f"{share} unknown: counted as RAM{bandwidth}"
    if gpu.gpu_budget_basis is None:
        return f"{share} {gib(gpu.gpu_budget_bytes)}{bandwidth}"
    return f"{share}: {gpu.gpu_budget_basis}{bandwidth}"


class NoGpuCard(Card):
    """What a CPU-only machine means for inference, said plainly."""

    def __init__(self) -> None:
        super().__init__(id="no-gpu", classes="card no-gpu")
        self.border_title = "Inference on the CPU"

    def compose(self) -> ComposeResult:
        yield ChangingText(id="no-gpu-text")

    def draw(self, history: History, now: MachineSnapshot) -> None:
        cpu = now.cpu
        simd = ", ".join(f for f in ("AVX2", "AVX512", "AMX", "NEON") if getattr(cpu, f.lower()))
        self.query_one("#no-gpu-text", ChangingText).show(
            f"No GPU here: models run on the {cpu.physical_cores or NA} CPU cores"
            f"{f' ({simd})' if simd else ''} and load into RAM "
            f"({human_bytes(now.memory.ram_available_bytes)} available). "
            f"Small models (1–8 B parameters, Q4) answer at reading speed.\n"
            f"[dim]Why no GPU: {now.gpu_absence_reason}[/dim]",
        )


class CpuCard(Card):
    def __init__(self) -> None:
        super().__init__(id="cpu", classes="card")
        self.border_title = "CPU"

    def compose(self) -> ComposeResult:
        yield Meter("util", 100.0, id="util")
        yield Meter("power", id="power")

    def draw(self, history: History, now: MachineSnapshot) -> None:
        cpu = now.cpu
        self.titles(
            f"CPU · {cpu.model_name or cpu.architecture}",
            f"{cpu.physical_cores or NA} cores / {cpu.logical_cores or NA} threads",
        )
        self.query_one("#util", Meter).show(
            readings.series(history, lambda s: s.cpu.utilization_percent),
            percent(cpu.utilization_percent),
        )
        power = readings.series(history, lambda s: s.cpu.package_power_w)
        reading = watts(cpu.package_power_w) if power else "- (no RAPL reading)"
        self.query_one("#power", Meter).show(power, reading)


class MemoryCard(Card):
    def __init__(self) -> None:
        super().__init__(id="memory", classes="card")
        self.border_title = "Memory"

    def compose(self) -> ComposeResult:
        yield Meter("RAM", id="ram")
        yield Meter("disk", id="disk")

    def draw(self, history: History, now: MachineSnapshot) -> None:
        memory = now.memory
        self.query_one("#ram", Meter).show(
            readings.series(history, readings.ram_used),
            f"{gib(readings.ram_used(now))} / {gib(memory.ram_total_bytes)}",
            float(memory.ram_total_bytes),
        )
        disk = now.disk
        if disk is not None:
            self.query_one("#disk", Meter).show(
                readings.series(history, _disk_used),
                f"{gib(disk.free_bytes)} free",
                float(disk.total_bytes),
            )
            self.titles(subtitle=f"models: {disk.path}")
        swap = f"swap {gib(memory.swap_used_bytes)} / {gib(memory.swap_total_bytes)}"
        self.titles(f"Memory · {swap}" if memory.swap_total_bytes else "Memory")


class ProcessesCard(Card):
    """Engine processes the sampler follows: resident memory and CPU use over time."""

    names: reactive[tuple[str, ...]] = reactive((), init=False)
    """The processes shown; a change rebuilds the meters."""

    def __init__(self) -> None:
        super().__init__(id="processes", classes="card")
        self.border_title = "Engine processes"

    def compose(self) -> ComposeResult:
        yield Static("no engine running", id="no-process")

    def draw(self, history: History, now: MachineSnapshot) -> None:
        self.names = tuple(p.name for p in now.processes)
        for index, process in enumerate(now.processes):
            meters = self.query(f".process-{index}").results(Meter)
            rss, cpu = next(meters, None), next(meters, None)
            if rss is None or cpu is None:
                return  # mounted on the next reading
            rss.show(
                readings.process_rss(history, process.name),
                f"{human_bytes(process.rss_bytes)} of {gib(now.memory.ram_total_bytes)}",
                float(now.memory.ram_total_bytes),
            )
            cpu.show(
                readings.series(history, partial(_cpu, name=process.name)),
                f"{percent(process.cpu_percent)} of a core (pid {process.pid})",
            )

    async def watch_names(self, names: tuple[str, ...]) -> None:
        await self.query(".process").remove()
        self.query_one("#no-process").display = not names
        widgets: list[Widget] = []
        for index, name in enumerate(names):
            widgets.append(Label(f"[b]{name}[/b]", classes="process"))
            widgets.append(Meter("RSS", classes=f"process process-{index}"))
            widgets.append(Meter("CPU", 100.0, classes=f"process process-{index}"))
        await self.mount_all(widgets)
        if self.history:
            self.draw(self.history, self.history[-1])


def _disk_used(snapshot: MachineSnapshot) -> float | None:
    disk = snapshot.disk
    return float(disk.total_bytes - disk.free_bytes) if disk else None


def _cpu(snapshot: MachineSnapshot, name: str) -> float | None:
    found = readings.process(snapshot, name)
    return found.cpu_percent if found else None


class MachineScreen(WorkbenchScreen):
    MODE = "machine"

    history: var[History] = var((), init=False, always_update=True)
    """Readings from the server's sampler, oldest first (as many as the widest sparkline
    shows)."""
    gpu_names: reactive[tuple[str, ...]] = reactive((), init=False)
    """One name per GPU; a change (first reading, or a GPU gone) rebuilds the cards."""

    _summary = ""

    def compose_body(self) -> ComposeResult:
        yield Label("waiting for the first reading...", id="machine-summary", classes="summary")
        with VerticalScroll(id="machine-cards", classes="cards"):
            yield CpuCard().data_bind(MachineScreen.history)
            yield MemoryCard().data_bind(MachineScreen.history)
            yield ProcessesCard().data_bind(MachineScreen.history)

    def show_view(self, view: ServerView) -> None:
        self.show_history(view.telemetry)

    def show_history(self, history: Sequence[MachineSnapshot]) -> None:
        if not history:
            return
        now = history[-1]
        self.history = tuple(history[-SHOWN:])
        self.gpu_names = tuple(g.name for g in now.gpus) or ("none",)
        summary = (
            f"[b]{now.hostname}[/b] · {now.os} · {len(now.gpus) or 'no'} GPU"
            f"{'s' if len(now.gpus) != 1 else ''} · sampled by the server at 1 Hz"
        )
        if summary != self._summary:
            self._summary = summary
            self.query_one("#machine-summary", Label).update(summary)

    async def watch_gpu_names(self, names: tuple[str, ...]) -> None:
        cards = self.query_one("#machine-cards", VerticalScroll)
        await cards.query(".gpu-card, .no-gpu").remove()
        now = self.history[-1] if self.history else None
        gpus = now.gpus if now else ()
        new: list[Card] = [GpuCard(g.index, g.name) for g in gpus] if gpus else [NoGpuCard()]
        await cards.mount_all([card.data_bind(MachineScreen.history) for card in new], before=0)
