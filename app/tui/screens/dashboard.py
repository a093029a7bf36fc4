"""5 Dashboard: per-model TTFT, TPOT, tokens/s and error rate over time, with each engine's
memory, the machine's power, and what the current traffic costs per 1M output tokens in
dollars and in watt-hours; figures from the server's live metrics, else the gateway's
per-request records."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.reactive import reactive
from textual.widgets import Label, Static

from app.display.cost import live_energy_line
from app.tui import live, readings
from app.tui.link import ServerView
from app.tui.present import NA, cost_line, gib, human_bytes, ms, percent, rate, watts
from app.tui.screens.base import WorkbenchScreen
from app.tui.widgets.meter import Meter
from profiles import CostDefaults
from workflows.benchmarking import LiveCost, effective_cost, live_cost

WINDOW_S = 60.0
BUCKETS, BUCKET_S = 30, 10.0


class ModelCard(Vertical):
    """One served model: four figures over the last five minutes, current values of the
    last minute."""

    view: reactive[ServerView | None] = reactive(None, init=False, always_update=True)
    """Bound from DashboardScreen.view."""

    def __init__(self, model: str) -> None:
        super().__init__(classes="card model-card", id=f"model-{_safe(model)}")
        self.model = model
        self.border_title = model

    def compose(self) -> ComposeResult:
        yield Meter("TTFT", id="ttft", fill=True)
        yield Meter("TPOT", id="tpot", fill=True)
        yield Meter("tok/s", id="tps", fill=True)
        yield Meter("errors", 100.0, id="errors", fill=True)
        yield Meter("memory", id="rss")

    def watch_view(self, view: ServerView | None) -> None:
        if view is None:
            return
        figures, trend = model_figures(view, self.model)
        self.query_one("#ttft", Meter).show(trend.ttft_ms, f"p50 {ms(figures.ttft_p50_ms)}")
        self.query_one("#tpot", Meter).show(trend.tpot_ms, f"p50 {ms(figures.tpot_p50_ms)}")
        self.query_one("#tps", Meter).show(trend.tokens_per_s, rate(figures.tokens_per_s))
        rate_text = percent(None if figures.error_rate is None else figures.error_rate * 100, 1)
        self.query_one("#errors", Meter).show(
            trend.error_rate, f"{rate_text} of {figures.requests}"
        )
        subtitle = f"{figures.requests} requests in the last minute"
        if subtitle != self.border_subtitle:
            self.border_subtitle = subtitle
        machine = view.machine
        process = readings.process(machine, self.model) if machine else None
        memory = human_bytes(process.rss_bytes) if process else NA
        if process and process.gpu_memory_bytes:
            memory += f" + {human_bytes(process.gpu_memory_bytes)} GPU"
        cpu = percent(process.cpu_percent if process else None)
        total = float(machine.memory.ram_total_bytes) if machine else None
        self.query_one("#rss", Meter).show(
            readings.process_rss(view.telemetry, self.model), f"{memory} · CPU {cpu}", total
        )


def model_figures(view: ServerView, model: str) -> tuple[live.ModelFigures, live.Series]:
    """The last minute and the trend: from the server's live metrics where it has them
    (one sparkline column per poll), else from its request records (10-second buckets)."""
    if view.live:
        return live.from_live(view.live[-1], model), live.live_series(view.live, model)
    now = view.polled_at
    figures = live.window(view.requests, model, now, WINDOW_S)
    return figures, live.series(view.requests, model, now, BUCKETS, BUCKET_S)


def current_cost(view: ServerView, models: Sequence[str], cost: CostDefaults) -> LiveCost:
    """What the last minute's output tokens of every model cost, with the power over the
    same minute."""
    rate = sum(model_figures(view, model)[0].tokens_per_s for model in models)
    telemetry = view.telemetry
    since = telemetry[-1].timestamp_s - WINDOW_S if telemetry else 0.0
    return live_cost(cost, [s for s in telemetry if s.timestamp_s >= since], rate)


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name)


class DashboardScreen(WorkbenchScreen):
    MODE = "dashboard"

    view: reactive[ServerView | None] = reactive(None, init=False, always_update=True)
    """The newest poll, bound to every model card."""
    models: reactive[tuple[str, ...]] = reactive((), init=False)
    """Models with an engine or with recorded requests; a change rebuilds the cards."""

    def compose_body(self) -> ComposeResult:
        yield Label("", id="dashboard-summary", classes="summary")
        yield Label("", id="dashboard-cost", classes="summary", markup=False)
        yield Label("", id="dashboard-energy", classes="summary", markup=False)
        with VerticalScroll(id="dashboard-scroll"):
            with Vertical(id="machine-card", classes="card"):
                yield Meter("power", id="power")
                yield Meter("GPU mem", id="gpu-memory")
                yield Meter("RAM", id="ram")
            yield Vertical(id="model-cards")
        yield Static(
            "No model serves yet: launch one on the Engines screen (4), then send requests "
            "from Chat (7), `hostbench bench`, or any OpenAI client.",
            id="dashboard-empty",
            classes="empty",
        )

    cost: CostDefaults | None = None
    """The [cost] in force (config.toml under the matching profile's), once loaded."""

    def on_mount(self) -> None:
        super().on_mount()
        self.load_cost()

    @work(thread=True, exclusive=True, exit_on_error=False, group="dashboard-cost")
    def load_cost(self) -> None:
        """Reads the launch profiles, so off the event loop."""
        app: Any = self.app
        found = effective_cost(
            app.deps.settings, app.deps.locations, snapshot=app.machine_reading()
        )
        self.cost = found.cost

    def show_view(self, view: ServerView) -> None:
        served = [e.name for e in view.engines]
        self.models = tuple(served)
        self.view = view
        machine = view.machine
        power = readings.power_w(machine) if machine else None
        power_text = watts(power) if power else f"{NA} (not measured here)"
        source = (
            "live metrics from the server"
            if view.live
            else f"{len(view.requests)} recorded requests"
        )
        self.query_one("#dashboard-summary", Label).update(
            f"{len(served)} model{'s' if len(served) != 1 else ''} served · {source} · "
            f"power {power_text}"
        )
        self.query_one("#dashboard-empty").display = not served
        app: Any = self.app
        cost = current_cost(view, served, self.cost or app.deps.settings.cost)
        self.query_one("#dashboard-cost", Label).update(cost_line(cost))
        energy = live_energy_line(cost.power, cost.output_tokens_per_s, "the last minute")
        self.query_one("#dashboard-energy", Label).update(energy)
        self._show_machine(view)

    def _show_machine(self, view: ServerView) -> None:
        """What all models together cost the machine: power, GPU memory, RAM."""
        machine = view.machine
        if machine is None:
            return
        card = self.query_one("#machine-card")
        card.border_title = "This machine"
        power = readings.series(view.telemetry, readings.power_w)
        meter = self.query_one("#power", Meter)
        meter.display = bool(power)  # no sensor: the summary line says so
        meter.show(power, watts(readings.power_w(machine)))
        gpu_total = sum(g.memory_total_bytes or 0 for g in machine.gpus)
        used = readings.series(view.telemetry, readings.gpus_memory_used)
        meter = self.query_one("#gpu-memory", Meter)
        meter.display = bool(used and gpu_total)
        if used and gpu_total:
            meter.show(used, f"{gib(used[-1])} / {gib(gpu_total)}", float(gpu_total))
        self.query_one("#ram", Meter).show(
            readings.series(view.telemetry, readings.ram_used),
            f"{gib(readings.ram_used(machine))} / {gib(machine.memory.ram_total_bytes)}",
            float(machine.memory.ram_total_bytes),
        )

    async def watch_models(self, models: tuple[str, ...]) -> None:
        cards = self.query_one("#model-cards", Vertical)
        await cards.remove_children()
        await cards.mount_all([ModelCard(m).data_bind(DashboardScreen.view) for m in models])
