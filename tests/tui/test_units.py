"""The workbench's pure parts: sparkline scaling, figures from request records, chat
timing, form values, and the CLI entry that opens it."""

from __future__ import annotations

import subprocess
import sys

import pytest
from pydantic import BaseModel, Field

from app.tui import live
from app.tui.chat_stream import Answer, _apply
from app.tui.forms import changed, field_specs, seconds, validate
from app.tui.jobs import JobClock
from app.tui.widgets.spark import columns
from engines.llamacpp.adapter import LlamaCppOptions
from storage import RequestRecord, RequestStatus
from tests.servers import ROOT


def test_sparkline_has_a_fixed_scale() -> None:
    assert columns([50.0], 1, 1, 100.0) == ["▄"]
    assert columns([100.0, 0.0], 2, 2, 100.0) == ["█ ", "█ "]
    assert columns([0.1], 1, 1, 100.0) == ["▁"], "above zero is never blank"
    assert columns([], 3, 1, 100.0) == ["   "]


def record(
    started: float, ttft: float, e2e: float, tokens: int, status: str = "ok"
) -> RequestRecord:
    return RequestRecord(
        id=str(started), model="m", engine="llama.cpp", endpoint="chat", stream=True,
        started_at=started, status=RequestStatus(status), http_status=200,
        ttft_ms=ttft, e2e_ms=e2e, prompt_tokens=10, completion_tokens=tokens,
    )  # fmt: skip


def test_window_figures_follow_the_bench_definitions() -> None:
    records = [
        record(100.0, 100.0, 1100.0, 11),  # TPOT (1100 - 100) / 10 = 100 ms
        record(110.0, 300.0, 2300.0, 21),  # TPOT 100 ms
        record(120.0, 200.0, 200.0, 1),  # one token: no TPOT
        record(125.0, 0.0, 0.0, 0, "engine_error"),
        record(126.0, 0.0, 0.0, 0, "client_error"),  # the client's fault: not an error rate
    ]
    figures = live.window(records, "m", now=130.0, window_s=60.0)
    assert figures.requests == 5 and figures.failed == 1
    assert figures.ttft_p50_ms == 200.0
    assert figures.tpot_p50_ms == pytest.approx(100.0)
    assert figures.tokens_per_s == pytest.approx(33 / 60)
    assert figures.error_rate == pytest.approx(0.2)
    assert live.window(records, "m", now=1000.0).requests == 0


def test_answer_timing_counts_ttft_and_decode_rate() -> None:
    answer = Answer()
    answer = _apply(answer, {"choices": [{"delta": {"role": "assistant"}}]}, 50.0)
    answer = _apply(answer, {"choices": [{"delta": {"content": "Hi"}}]}, 60.0)
    answer = _apply(answer, {"choices": [{"delta": {"content": " there"}}]}, 160.0)
    answer = _apply(answer, {"choices": [], "usage": {"completion_tokens": 3}}, 170.0)
    assert answer.text == "Hi there" and answer.ttft_ms == 50.0
    assert answer.tokens == 3
    assert answer.tokens_per_s == pytest.approx(2 / 0.110)
    assert _apply(answer, {"error": {"message": "boom"}}, 200.0).error == "boom"


def test_launch_form_fields_come_from_the_option_declaration() -> None:
    specs = {s.name: s for s in field_specs(LlamaCppOptions)}
    assert set(specs) == set(LlamaCppOptions.model_fields)
    assert specs["flash_attn"].kind == "choice" and specs["flash_attn"].choices == (
        "auto",
        "on",
        "off",
    )
    assert specs["mlock"].kind == "bool"
    assert specs["n_gpu_layers"].kind == "number" and "auto" in specs["n_gpu_layers"].placeholder
    assert ">= 256" in specs["ctx_size"].help


def test_only_changed_values_are_sent_and_they_are_validated() -> None:
    baseline = {"ctx_size": 4096, "n_gpu_layers": 0, "mlock": False, "threads": None}
    raw = {"ctx_size": "8192", "n_gpu_layers": "0", "mlock": False, "threads": ""}
    assert changed(raw, baseline) == {"ctx_size": "8192"}
    assert validate(LlamaCppOptions, {"ctx_size": "8192"}) == {}
    assert "ctx_size" in validate(LlamaCppOptions, {"ctx_size": "12"})

    class Small(BaseModel):
        n: int = Field(1, ge=1)

    assert validate(Small, {"n": "x"})["n"]


def test_job_clock_reads_rate_and_eta() -> None:
    now = [0.0]
    clock = JobClock("bytes", clock=lambda: now[0])
    clock.line(0, 100 << 20)
    now[0] = 2.0
    line = clock.line(50 << 20, 100 << 20)
    assert "50.0 MiB / 100.0 MiB" in line and "25.0 MiB/s" in line and "ETA 2s" in line


def test_help_is_fast_because_it_loads_no_textual() -> None:
    code = (
        "import sys\nfrom app.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print('textual' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip().endswith("False")


def test_no_command_opens_the_workbench(monkeypatch: pytest.MonkeyPatch) -> None:
    import app.tui
    from app.main import main

    opened = []
    monkeypatch.setattr(app.tui, "run", lambda: opened.append(True) or 0)
    assert main([]) == 0 and opened == [True]


def test_request_records_are_polled_only_when_asked() -> None:
    from app.tui.link import Poller
    from tests.tui.replay import ReplayClient

    client = ReplayClient.load()  # recorded from a server without live metrics
    assert Poller(client).poll(with_records=True).requests, "the dashboard's figures need them"
    assert Poller(client).poll(with_records=False).requests == ()


def test_dashboard_cost_is_the_machines_hour_over_the_last_minutes_tokens() -> None:
    from app.tui.link import Poller
    from app.tui.present import cost_line
    from app.tui.screens.dashboard import current_cost, model_figures
    from profiles import CostDefaults
    from tests.tui.replay import ReplayClient

    client = ReplayClient.load()  # a real server's poll: requests in the last minute
    view = Poller(client, lambda: client.polled_at).poll()
    models = [e.name for e in view.engines]
    rate = sum(model_figures(view, m)[0].tokens_per_s for m in models)
    assert rate > 0, "the recording has tokens in its last minute"

    rented = current_cost(view, models, CostDefaults(rental_usd_per_hour=0.36, utilization=0.5))
    # $0.36 an hour over rate x 3600 tokens; the rate already holds the idle time, so the
    # configured utilization is not applied again
    assert rented.usd_per_mtok_output == pytest.approx(0.36 / (rate * 3600) * 1e6)
    assert cost_line(rented).startswith("cost: $") and "(rental)" in cost_line(rented)

    powered = current_cost(view, models, CostDefaults(power_w=100.0))  # no counter recorded
    assert powered.basis == "electricity" and powered.power.method == "setting"
    assert powered.usd_per_mtok_output == pytest.approx(0.1 * 0.15 / (rate * 3600) * 1e6)
    assert "100 W setting" in cost_line(powered)

    unknown = current_cost(view, models, CostDefaults())  # CPU VM: no power reading
    assert unknown.usd_per_mtok_output is None and "set [cost] power_w" in cost_line(unknown)
    idle = current_cost(view, [], CostDefaults(power_w=100.0))
    assert "no tokens in the last minute" in cost_line(idle)


def test_dashboard_energy_is_the_minutes_power_over_its_output_tokens() -> None:
    from app.display.cost import live_energy_line
    from app.tui.link import Poller
    from app.tui.screens.dashboard import current_cost
    from profiles import CostDefaults
    from tests.tui.replay import ReplayClient

    client = ReplayClient.load()  # a real server's poll on a CPU VM: no power reading
    view = Poller(client, lambda: client.polled_at).poll()
    models = [e.name for e in view.engines]
    powered = current_cost(view, models, CostDefaults(power_w=100.0))
    wh = 100.0 / (powered.output_tokens_per_s * 3600.0) * 1e6
    line = live_energy_line(powered.power, powered.output_tokens_per_s, "the last minute")
    assert line == f"energy: {wh:,.1f} Wh/1M output tokens (assumed, not measured; idle included)"
    unknown = current_cost(view, models, CostDefaults())
    assert live_energy_line(unknown.power, unknown.output_tokens_per_s, "x") == (
        "energy: not available (no energy counter, no power reading, no cost.power_w)"
    )


def test_an_idle_ttl_is_empty_or_seconds_above_zero() -> None:
    assert seconds("  ") is None
    assert seconds("90") == 90.0 and seconds("0.5") == 0.5
    for bad in ("0", "-3", "nan", "inf", "ten"):
        with pytest.raises(ValueError, match="seconds"):
            seconds(bad)


async def test_column_widths_are_the_widest_label_or_cell_before_any_row_is_drawn() -> None:
    from rich.text import Text
    from textual.app import App, ComposeResult
    from textual.widgets import DataTable

    from app.tui.widgets.column_widths import fix_column_widths

    class OneTable(App[None]):
        def compose(self) -> ComposeResult:
            yield DataTable()

    async with OneTable().run_test() as pilot:
        table: DataTable[object] = pilot.app.query_one(DataTable)
        table.add_column("model", key="model")
        table.add_column("best fit", key="fit")
        fix_column_widths(table, [("qwen3-0.6b", Text("Q8_0    GPU")), ("[b]x[/b]", "ok")])
        widths = [c.width for c in table.ordered_columns]
        assert widths == [len("qwen3-0.6b"), len("Q8_0    GPU")]
        assert not any(c.auto_width for c in table.ordered_columns)
