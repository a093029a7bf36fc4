"""Each screen's main flow against a real hostbench server serving the real default model."""

from __future__ import annotations

import asyncio
import shutil
from itertools import pairwise
from pathlib import Path

import pytest
from textual.widgets import DataTable, Input, Label, ProgressBar, Static

from app.tui import make_app
from app.tui.app import Workbench
from app.tui.screens.chat import Bubble, ChatScreen
from app.tui.screens.compare import CompareScreen
from app.tui.screens.dashboard import ModelCard
from app.tui.screens.dialogs import QuitScreen
from app.tui.widgets.cost_bars import CostBars
from app.tui.widgets.job import JobPanel
from app.tui.widgets.meter import Meter
from control.client import ControlClient
from engines.process import free_port
from profiles import Locations, Settings
from tests.servers import DEFAULT_MODEL, ServerProcess, wait_pid_gone
from tests.tui.conftest import Messages, wait_until

pytestmark = pytest.mark.integration


def workbench_on(home: Path, port: int, cost: dict | None = None, **kwargs):  # type: ignore[no-untyped-def]
    settings = Settings(server={"port": port}, cost=cost or {})
    locations = Locations.from_env({"HOSTBENCH_HOME": str(home)})
    client = ControlClient(settings, locations)
    return make_app(settings, client, locations=locations, poll_interval_s=0.25, **kwargs)


@pytest.fixture
def fresh_home(session_home: Path, tmp_path: Path, clean_env: Path) -> Path:
    """A home of its own holding the default model (the store copied, the file shared)."""
    home = tmp_path / "home"
    shutil.copytree(
        session_home / "data", home / "data", ignore=shutil.ignore_patterns("logs", "run")
    )
    return home


async def test_starts_a_server_launches_the_default_model_and_stops_it_on_quit(
    fresh_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOSTBENCH_HOME", str(fresh_home))
    app = workbench_on(fresh_home, free_port())
    try:
        await launch_and_quit(app)
    finally:
        if app.started_server is not None:
            app.started_server.stop()


async def launch_and_quit(app: Workbench) -> None:
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: app.connected, "the background server", 60)
        assert app.started_server is not None, "no server ran, so the workbench starts one"
        await pilot.press("4")
        note = app.screen.query_one("#form-note", Static)
        await wait_until(pilot, lambda: "profile" in str(note.render()), "the launch plan")
        app.screen.query_one("#field-idle-ttl", Input).value = "900"
        await pilot.press("l")
        await wait_until(
            pilot,
            lambda: app.view and any(e.state == "ready" for e in app.view.engines),
            "the default model to be ready",
            240,
        )
        assert app.view and app.view.engines[0].idle_ttl_s == 900, "the form's idle TTL"
        table = app.screen.query_one("#engines-table", DataTable)
        await wait_until(pilot, lambda: table.row_count == 1, "the engine in the table")
        row = [str(cell) for cell in table.get_row_at(0)]
        assert row[0] == DEFAULT_MODEL and "ready" in row[1] and row[2].isdigit()
        server = app.started_server
        await pilot.press("q")
        assert isinstance(app.screen, QuitScreen)
        await pilot.press("s")  # stop the models (and the server this workbench started)
        await wait_until(pilot, lambda: server.proc.poll() is not None, "the server to stop", 60)
    assert wait_pid_gone(server.pid)


async def test_chat_streams_and_the_dashboard_moves(
    default_server: ServerProcess, session_home: Path, clean_env: Path
) -> None:
    seen = Messages()
    power = {"power_w": 65.0}  # this VM has no energy counter: a configured figure
    app = workbench_on(session_home, default_server.port, power, start_server=False)
    async with app.run_test(size=(120, 40), message_hook=seen.hook) as pilot:
        await wait_until(pilot, lambda: app.connected, "the server")
        util = app.screen.query_one("#cpu #util", Meter)
        await wait_until(pilot, lambda: util.values, "the Machine screen's CPU sparkline")
        no_gpu = "no GPU here: the CPU-inference card saying so"
        await wait_until(pilot, lambda: app.screen.query("#no-gpu-text"), no_gpu)
        await pilot.press("5")
        await wait_until(pilot, lambda: app.screen.query(ModelCard), "the model's card")
        card = app.screen.query_one(ModelCard)
        before = card.border_subtitle
        await pilot.press("7")
        screen = app.screen
        assert isinstance(screen, ChatScreen)
        await wait_until(pilot, lambda: screen.models, "the model picker")
        screen.query_one("#chat-max-tokens").value = "48"
        await pilot.click("#prompt")
        await pilot.press(*"Name three colours.", "enter")
        await wait_until(pilot, lambda: seen.of(ChatScreen.AnswerEnded), "the answer", 120)
        grew = [m.answer.text for m in seen.of(ChatScreen.AnswerGrew)]  # type: ignore[attr-defined]
        assert len(grew) >= 2, "the answer arrives in pieces"
        assert all(later.startswith(earlier) for earlier, later in pairwise(grew))
        answer = seen.of(ChatScreen.AnswerEnded)[0].answer  # type: ignore[attr-defined]
        assert answer.error is None and answer.text and answer.ttft_ms > 0
        assert answer.tokens_per_s and answer.tokens_per_s > 0
        stats = screen.query(Bubble).last().query_one(".bubble-stats")
        assert "TTFT" in str(stats.render()) and "tok/s" in str(stats.render())
        await pilot.press("escape", "5")
        await wait_until(pilot, lambda: app.screen.query(ModelCard), "the model's card")
        card = app.screen.query_one(ModelCard)
        tps = card.query_one("#tps", Meter)
        await wait_until(
            pilot,
            lambda: card.border_subtitle != before and tps.reading != "0.0 tok/s",
            "the dashboard to count the request",
        )
        assert any(tps.values), "the tokens/s sparkline moved"
        assert "p50" in card.query_one("#ttft", Meter).reading
        cost = app.screen.query_one("#dashboard-cost", Label)
        await wait_until(pilot, lambda: "$" in str(cost.render()), "the cost of the tokens")
        assert "per 1M output tokens" in str(cost.render()) and "65 W setting" in str(cost.render())
        await pilot.press("q")
        assert isinstance(app.screen, QuitScreen)
        await pilot.press("k")  # keep the models running
    assert default_server.engine()["state"] == "ready", "the model still serves"


async def test_a_crash_shows_as_a_crash_then_the_restart(
    fresh_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGKILL the engine: the table says crashed (with the exit code), a banner says why
    and when it restarts, a notification says so; then the supervisor's restart shows."""
    import os
    import signal

    from app.tui.messages import EngineCrashed

    server = ServerProcess(fresh_home, env={"HOSTBENCH_ENGINES__RESTART_BACKOFF_S": "4"})
    try:
        server.wait_ready()
        seen = Messages()
        app = workbench_on(fresh_home, server.port, start_server=False)
        async with app.run_test(size=(120, 40), message_hook=seen.hook) as pilot:
            await wait_until(pilot, lambda: app.connected, "the server")
            await pilot.press("4")
            table = app.screen.query_one("#engines-table", DataTable)
            await wait_until(pilot, lambda: table.row_count == 1, "the engine")
            os.kill(server.engine()["pid"], signal.SIGKILL)
            await wait_until(pilot, lambda: seen.of(EngineCrashed), "the crash to be noticed")
            assert "crashed (-9)" in str(table.get_row_at(0)[1])
            banner = str(app.screen.query_one("#crash", Static).render())
            assert "crashed: exited unexpectedly with code -9" in banner
            assert "restarting in" in banner
            await wait_until(
                pilot,
                lambda: app.view.engines[0].state == "ready" and app.view.engines[0].restarts == 1,
                "the restart",
                120,
            )
            await wait_until(pilot, lambda: "ready" in str(table.get_row_at(0)[1]), "the row")
            assert not app.screen.query_one("#crash").has_class("-shown")
    finally:
        server.terminate()


async def test_a_quick_bench_from_compare_puts_this_machine_next_to_hosted_apis(
    default_server: ServerProcess, session_home: Path, clean_env: Path
) -> None:
    seen = Messages()
    app = workbench_on(session_home, default_server.port, start_server=False)
    async with app.run_test(size=(120, 40), message_hook=seen.hook) as pilot:
        await wait_until(pilot, lambda: app.connected, "the server")
        await pilot.press("6")
        screen = app.screen
        assert isinstance(screen, CompareScreen)
        await wait_until(pilot, lambda: screen.served == DEFAULT_MODEL, "the served model")
        await pilot.press("b")
        panel = screen.query_one("#bench-job", JobPanel)
        assert panel.running, "the progress panel shows while the bench runs"
        bench = next(w for w in app.workers if w.group == "quick-bench")
        await asyncio.wait_for(bench.wait(), 280)
        await wait_until(pilot, lambda: seen.of(CompareScreen.BenchEnded), "the bench's end")
        ended = seen.of(CompareScreen.BenchEnded)[0]
        assert ended.ok, ended.outcome  # type: ignore[attr-defined]
        progress = [m.progress for m in seen.of(CompareScreen.BenchProgressed)]  # type: ignore[attr-defined]
        assert progress and progress[-1].level == progress[-1].levels == 2
        bar = panel.query_one(ProgressBar)
        assert bar.total == 16 and bar.progress == 16, "two levels of eight requests, all done"
        stored = set(ended.runs)  # type: ignore[attr-defined]
        await wait_until(
            pilot,
            lambda: screen.data and {c.local.run_id for c in screen.data.comparisons} == stored,
            "the comparison of the new runs",
        )
        table = screen.query_one("#compare-table", DataTable)
        rows = [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]
        here = [row for row in rows if row[0].startswith("here")]
        assert [row[0] for row in here] == ["here, conc 1", "here, conc 4"]
        assert all(row[1] == DEFAULT_MODEL for row in here)
        assert all(float(row[3].replace(",", "")) > 0 for row in here), "measured output tokens/s"
        assert all(row[4].endswith(" ms") for row in here), "measured TTFT p50"
        frontier = [row for row in rows if row[0] == "frontier"]
        assert frontier and all(row[4] == "not measured" for row in frontier)
        assert all(row[2].startswith("$") for row in frontier)
        assert len(screen.query_one(CostBars).bars) == len(rows)
        curve = str(screen.query_one("#compare-curve", Static).content)
        assert curve.startswith("TTFT p99") and "Pareto-optimal" in curve, "the sweep's curve"
        await pilot.press("q")
        if isinstance(app.screen, QuitScreen):
            await pilot.press("k")


async def test_the_quick_bench_cancels(
    default_server: ServerProcess, session_home: Path, clean_env: Path
) -> None:
    seen = Messages()
    app = workbench_on(session_home, default_server.port, start_server=False)
    async with app.run_test(size=(80, 24), message_hook=seen.hook) as pilot:
        await wait_until(pilot, lambda: app.connected, "the server")
        await pilot.press("6")
        screen = app.screen
        assert isinstance(screen, CompareScreen)
        await wait_until(pilot, lambda: screen.served == DEFAULT_MODEL, "the served model")
        await pilot.press("b")
        bench = next(w for w in app.workers if w.group == "quick-bench")
        await wait_until(pilot, lambda: seen.of(CompareScreen.BenchProgressed), "the first level")
        await pilot.press("c")
        panel = screen.query_one("#bench-job", JobPanel)
        assert "cancelling" in panel.line
        await asyncio.wait_for(bench.wait(), 120)
        await wait_until(pilot, lambda: seen.of(CompareScreen.BenchEnded), "the bench's end")
        ended = seen.of(CompareScreen.BenchEnded)[0]
        assert not ended.ok and "cancelled" in ended.outcome  # type: ignore[attr-defined]
        assert not panel.running
        await pilot.press("q")
        if isinstance(app.screen, QuitScreen):
            await pilot.press("k")
