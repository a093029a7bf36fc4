"""Cost figures shown with their formula and inputs (docs/architecture.md, "Cost")."""

from __future__ import annotations

from app.display.numbers import num, usd
from bench.cost import CostInputs, RunCost, TokenCost


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
    inputs = cost.inputs
    if inputs.basis == "none":
        return ["cost: unknown: set cost.power_w (power) or a rental/purchase price"]
    lines = [
        f"cost basis: {inputs.basis}; {hourly_inputs(inputs)}; {electricity_inputs(inputs)}",
        token_line("output", cost.output, inputs, 1 - cost.prefill_share),
        token_line("input", cost.input, inputs, cost.prefill_share),
    ]
    if cost.wh_per_mtok_output is not None:
        lines.append(
            f"energy: {num(cost.wh_per_mtok_output)} Wh per 1M output tokens, "
            f"{num(cost.wh_per_mtok_total)} Wh per 1M tokens in+out"
        )
    return lines
