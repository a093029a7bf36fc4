"""Cost math with worked examples: rental, amortized hardware, electricity only; break-even."""

from __future__ import annotations

import math

import pytest

from bench.cost import (
    CostInputs,
    amortized_usd_per_hour,
    blended_hosted_usd_per_mtok,
    break_even,
    electricity_usd_per_mtok,
    run_cost,
    tokens_per_s_to_match,
    usd_per_mtok,
    wh_per_mtok,
)


def test_rental_per_million_tokens() -> None:
    # $2/h at 1000 tok/s: 3.6M tokens an hour -> $0.5556 per 1M; half the hours idle doubles it
    assert usd_per_mtok(2.0, 1000.0) == pytest.approx(2.0 / 3.6)
    assert usd_per_mtok(2.0, 1000.0, utilization=0.5) == pytest.approx(4.0 / 3.6)


def test_amortized_hardware() -> None:
    # $30,000 over 3 years = 26,280 h -> $1.14155/h; at 500 tok/s (1.8M/h) -> $0.6342 per 1M
    hourly = amortized_usd_per_hour(30_000.0, 36)
    assert hourly == pytest.approx(1.141553, rel=1e-6)
    assert usd_per_mtok(hourly, 500.0) == pytest.approx(0.634196, rel=1e-5)


def test_electricity_only() -> None:
    # 350 W at $0.20/kWh = $0.07/h; at 100 tok/s (360k/h) -> $0.1944 per 1M, 972.2 Wh per 1M
    assert electricity_usd_per_mtok(350.0, 0.20, 100.0) == pytest.approx(0.07 / 0.36)
    assert wh_per_mtok(350.0, 100.0) == pytest.approx(350.0 / 0.36)
    inputs = CostInputs(electricity_usd_per_kwh=0.20, watts=350.0, watts_source="test")
    cost = run_cost(inputs, output_tokens_per_s=100.0, input_tokens_per_s=0.0, prefill_share=0.0)
    assert cost.basis == "electricity"
    assert cost.output.usd_per_mtok == pytest.approx(0.07 / 0.36)
    assert cost.output.fixed_usd_per_mtok is None


def test_the_hour_is_charged_once_across_input_and_output() -> None:
    # $1/h; 100 out tok/s and 400 in tok/s over the run; 20 % of the time on prompts
    inputs = CostInputs(rental_usd_per_hour=1.0)
    cost = run_cost(inputs, 100.0, 400.0, prefill_share=0.2)
    assert cost.output.tokens_per_s == pytest.approx(125.0)
    assert cost.input.tokens_per_s == pytest.approx(2000.0)
    assert cost.output.usd_per_mtok == pytest.approx(1.0 / (125 * 3600) * 1e6)
    billed = (
        100 * 3600 * cost.output.usd_per_mtok / 1e6 + 400 * 3600 * cost.input.usd_per_mtok / 1e6
    )
    assert billed == pytest.approx(1.0)  # an hour of the run costs exactly the hour


def test_rental_includes_power_and_bought_hardware_adds_it() -> None:
    rented = CostInputs(rental_usd_per_hour=1.0, watts=500.0, electricity_usd_per_kwh=0.3)
    assert rented.basis == "rental" and rented.electricity_usd_per_hour() is None
    bought = CostInputs(
        hardware_usd=8760.0, amortization_months=12, watts=500.0, electricity_usd_per_kwh=0.3
    )
    assert bought.basis == "amortized"
    assert bought.fixed_usd_per_hour() == pytest.approx(1.0)
    assert bought.electricity_usd_per_hour() == pytest.approx(0.15)
    cost = run_cost(bought, 100.0, 0.0, 0.0).output
    assert cost.usd_per_mtok == pytest.approx(1.15 / 0.36)
    assert CostInputs().basis == "none"


def test_break_even_of_a_rental() -> None:
    # $0.10/h = $2.40/day; hosted $10 per 1M -> 240k output tokens a day
    even = break_even(CostInputs(rental_usd_per_hour=0.1), 10.0, hosted_usd_per_mtok=10.0)
    assert even.tokens_per_day == pytest.approx(240_000)
    assert even.capacity_tokens_per_day == pytest.approx(864_000)
    assert even.within_capacity


def test_break_even_of_bought_hardware_with_electricity() -> None:
    # $2,190 over 1 year = $0.25/h = $6/day; 100 W x $0.30 = $0.03/h at 10 tok/s = $0.8333/1M
    inputs = CostInputs(
        hardware_usd=2190.0, amortization_months=12, watts=100.0, electricity_usd_per_kwh=0.30
    )
    even = break_even(inputs, 10.0, hosted_usd_per_mtok=2.0)
    assert even.self_variable_usd_per_mtok == pytest.approx(0.03 / 0.036)
    assert even.tokens_per_day == pytest.approx(6.0 / (2.0 - 0.03 / 0.036) * 1e6)
    assert not even.within_capacity  # 5.1M a day, but the machine makes 864k
    assert break_even(inputs, 10.0, hosted_usd_per_mtok=0.5).tokens_per_day is None


def test_electricity_only_is_cheaper_from_the_first_token_or_never() -> None:
    inputs = CostInputs(watts=100.0, electricity_usd_per_kwh=0.30)
    assert break_even(inputs, 10.0, 2.0).tokens_per_day == 0
    assert break_even(inputs, 10.0, 0.5).tokens_per_day is None


def test_hosted_bill_blends_input_tokens() -> None:
    # 3 input tokens per output token at $1/$4 per 1M -> $7 per 1M output tokens
    assert blended_hosted_usd_per_mtok(4.0, 1.0, 3.0) == pytest.approx(7.0)


def test_no_throughput_costs_infinity_not_a_crash() -> None:
    assert math.isinf(usd_per_mtok(1.0, 0.0))
    assert math.isinf(wh_per_mtok(100.0, 0.0))


def test_the_rate_to_match_a_hosted_price_is_the_hour_over_its_price() -> None:
    rate = tokens_per_s_to_match(1.8, 10.0)
    assert rate == 50.0  # $1.80/h at 50 tok/s: 180,000 tokens an hour, $10 per 1M
    assert abs(usd_per_mtok(1.8, rate) - 10.0) < 1e-9
    assert tokens_per_s_to_match(0.0, 10.0) is None and tokens_per_s_to_match(1.0, 0.0) is None
