"""Cost figures shown with their formula and inputs (docs/architecture.md, "Cost")."""

from __future__ import annotations

from app.display.numbers import num, usd
from bench.cost import CostInputs, RunCost, TokenCost
from bench.energy import EnergyFigure, energy_per_output
from bench.power import PowerFigure


def hourly_inputs(inputs: CostInputs) -> str:
    if inputs.basis == "rental":
        return f"rental {usd(inputs.rental_usd_per_hour)}/h (setting cost.rental_usd_per_hour)"
    if inputs.basis == "amortized":
        return (
            f"hardware {usd(inputs.hardware_usd)} over {inputs.amortization_months:g} months "
            f"= {usd(inputs.fixed_usd_per_hour())}/h"
        )
    return "no hardware cost set (cost.rental_usd_per_hour or cost.hardware_usd)"


def electricity_inputs(inputs: CostInputs) -> str:
    if inputs.basis == "rental":
        return "electricity: included in the rental"
    if inputs.watts is None:
        return f"electricity: power unknown ({inputs.watts_source})"
    return (
        f"electricity: {num(inputs.watts)} W ({inputs.watts_source}) x "
        f"{usd(inputs.electricity_usd_per_kwh)}/kWh = "
        f"{usd(inputs.electricity_usd_per_hour())}/h"
    )


def token_line(kind: str, cost: TokenCost, inputs: CostInputs, share: float) -> str:
    """`$total per 1M = fixed part + electricity part`, each as its formula."""
    rate = f"{num(cost.tokens_per_s)} tok/s"
    parts = []
    if cost.fixed_usd_per_mtok is not None:
        parts.append(
            f"{usd(inputs.fixed_usd_per_hour())}/h / ({rate} x 3600) x 1e6 / "
            f"utilization {inputs.utilization:g} = {usd(cost.fixed_usd_per_mtok)}"
        )
    if cost.electricity_usd_per_mtok is not None:
        parts.append(
            f"{usd(inputs.electricity_usd_per_hour())}/h / ({rate} x 3600) x 1e6 "
            f"= {usd(cost.electricity_usd_per_mtok)}"
        )
    return (
        f"{usd(cost.usd_per_mtok)} per 1M {kind} tokens = {' + '.join(parts)} "
        f"[{kind} tok/s over its {num(100 * share, 0)} % of machine time]"
    )


def cost_lines(cost: RunCost) -> list[str]:
    """The cost figures with their formulas, then the energy (which a cost basis of
    "none" does not hide: energy needs only the power)."""
    inputs = cost.inputs
    if inputs.basis == "none":
        lines = ["cost: unknown: set cost.power_w (power) or a rental/purchase price"]
    else:
        lines = [
            f"cost basis: {inputs.basis}; {hourly_inputs(inputs)}; {electricity_inputs(inputs)}",
            token_line("output", cost.output, inputs, 1 - cost.prefill_share),
            token_line("input", cost.input, inputs, cost.prefill_share),
        ]
    energy = cost.energy or energy_per_output(inputs.power_figure(), 0.0)
    return lines + energy_lines(energy, cost.wh_per_mtok_total)


def energy_basis(energy: EnergyFigure) -> str:
    """The figure's source, led by its basis label where the source does not say it."""
    if energy.label and energy.label not in energy.source:
        return f"{energy.label}: {energy.source}"
    return energy.source


def energy_lines(energy: EnergyFigure, wh_per_mtok_total: float | None = None) -> list[str]:
    """Wh per 1M output tokens over the whole run with its basis, then the share attributed
    to serving (where the figure has idle readings); else why there is no figure."""
    if energy.wh_per_mtok_output is None:
        return [f"energy: not available ({energy.why})"]
    total = "" if wh_per_mtok_total is None else f", {num(wh_per_mtok_total)} per 1M in+out"
    lines = [
        f"energy: {num(energy.wh_per_mtok_output)} Wh per 1M output tokens{total}, whole run "
        f"with its idle gaps ({energy_basis(energy)})"
    ]
    if not energy.attribution:
        return lines
    if energy.serving_wh_per_mtok_output is None:
        return [*lines, f"energy, serving share: not available ({energy.attribution})"]
    serving = num(energy.serving_wh_per_mtok_output)
    return [
        *lines,
        f"energy, serving share: {serving} Wh per 1M output tokens ({energy.attribution})",
    ]


def energy_cell(energy: EnergyFigure | None) -> str:
    """A table cell: Wh per 1M output tokens, marked where the wattage is assumed; "n/a"
    where there is no figure (the detail lines say why)."""
    if energy is None or energy.wh_per_mtok_output is None:
        return "n/a"
    figure = num(energy.wh_per_mtok_output, 0)
    return figure if energy.measured else f"{figure} (assumed)"


def live_energy_line(power: PowerFigure, output_tokens_per_s: float, window: str) -> str:
    """The Dashboard's energy, one short line: the machine's power over `window` (e.g.
    "the last minute") against every model's output tokens in it, idle time included, with
    its basis label (the power and its source are on the lines above); or why not."""
    energy = energy_per_output(power, output_tokens_per_s, attribute_idle=False)
    if energy.wh_per_mtok_output is None:
        why = energy.why if power.watts is None else f"no output tokens in {window}"
        return f"energy: not available ({why})"
    basis = energy.label or energy.source
    return f"energy: {num(energy.wh_per_mtok_output)} Wh/1M output tokens ({basis}; idle included)"
