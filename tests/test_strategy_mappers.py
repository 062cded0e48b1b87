"""Target position / target weight → orders: the orders never break the venue's instrument
rules, never trade past the target, and reach it within one lot step unless the venue's
minimum makes the last trade impossible (then the mapper says so instead of trading)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from peaktrade_core.orders import OrderRequest
from peaktrade_core.strategy import OrderIntent, target_position_orders, target_weight_orders
from peaktrade_core.venues import InstrumentRules

STEPS = [0.00001, 0.0001, 0.001, 0.01, 0.1, 0.25, 0.5, 1.0, 5.0]
sizes = st.floats(min_value=-1000, max_value=1000, allow_nan=False, allow_infinity=False)
prices = st.floats(min_value=0.01, max_value=100_000, allow_nan=False, allow_infinity=False)


@st.composite
def instrument_rules(draw):
    step = draw(st.sampled_from(STEPS))
    min_quantity = draw(st.one_of(st.none(), st.integers(1, 20).map(lambda k: k * step), st.floats(step, 50 * step)))
    min_notional = draw(st.one_of(st.none(), st.floats(1, 500)))
    return InstrumentRules("X/EUR", tick_size=0.01, lot_step=step, min_quantity=min_quantity, min_notional=min_notional)


def _as_order(intent: OrderIntent) -> OrderRequest:
    return OrderRequest(symbol=intent.symbol, side=intent.side, quantity=intent.quantity, reference_price=intent.reference_price)


def _check(mapped, rules: InstrumentRules, current: float, target: float, price: float) -> None:
    assert len(mapped.intents) <= 1
    delta = target - current
    tolerance = 1e-9 * max(1.0, abs(current), abs(target))
    if mapped.intents:
        intent = mapped.intents[0]
        assert rules.problems(_as_order(intent)) == [], rules.problems(_as_order(intent))
        after = current + intent.signed_quantity
        assert intent.quantity <= abs(delta) + tolerance  # never past the target
        assert abs(target - after) < rules.lot_step + tolerance  # within one lot step
        if intent.rounded_from is not None:  # rounding is said, with what was asked
            assert math.isclose(intent.rounded_from, abs(delta), rel_tol=1e-12, abs_tol=1e-12)
            assert intent.quantity < intent.rounded_from
    elif abs(delta) >= rules.lot_step + tolerance:
        # no order although the target is a lot step or more away: only the venue's minimum
        # can be why, and the mapper says which
        assert mapped.skipped, (current, target)
        stepped = math.floor(abs(delta) / rules.lot_step + 1e-9) * rules.lot_step
        reason = mapped.skipped[0].reason
        assert (rules.min_quantity and stepped < rules.min_quantity * (1 + 1e-9) and "minimum quantity" in reason) or (
            rules.min_notional and stepped * price < rules.min_notional * (1 + 1e-9) and "minimum" in reason
        ), reason


@settings(max_examples=300, deadline=None)
@given(rules=instrument_rules(), current=sizes, target=sizes, price=prices)
def test_target_position_orders_fit_the_rules_and_reach_the_target_within_one_lot_step(rules, current, target, price):
    mapped = target_position_orders("X/EUR", current, target, rules=rules, price=price)
    _check(mapped, rules, current, target, price)


@settings(max_examples=300, deadline=None)
@given(rules=instrument_rules(), current=sizes, weight=st.floats(-2, 2), equity=st.floats(0, 1_000_000), price=prices)
def test_target_weight_orders_fit_the_rules_and_reach_the_weight_within_one_lot_step(rules, current, weight, equity, price):
    mapped = target_weight_orders("X/EUR", current, weight, equity=equity, price=price, rules=rules)
    _check(mapped, rules, current, weight * equity / price, price)


def test_a_trade_is_rounded_down_to_the_lot_step_and_says_so():
    rules = InstrumentRules("BTC/EUR", lot_step=0.001, min_quantity=0.001)
    (intent,) = target_position_orders("BTC/EUR", 0.0, 0.01234, rules=rules, price=40_000)
    assert (intent.side.value, intent.quantity, intent.rounded_from) == ("buy", 0.012, 0.01234)
    (intent,) = target_position_orders("BTC/EUR", 0.5, 0.2, rules=rules, price=40_000)  # sells exactly, no rounding
    assert (intent.side.value, intent.quantity, intent.rounded_from) == ("sell", 0.3, None)


def test_a_trade_below_the_venues_minimum_is_not_made_and_the_reason_is_given():
    rules = InstrumentRules("BTC/EUR", lot_step=0.001, min_quantity=0.001, min_notional=50)
    mapped = target_position_orders("BTC/EUR", 0.0, 0.001, rules=rules, price=40_000)  # notional 40 < 50
    assert mapped.intents == [] and "below the minimum 50" in mapped.skipped[0].reason
    unpriced = target_position_orders("BTC/EUR", 0.0, 0.01, rules=rules)  # minimum notional uncheckable
    assert unpriced.intents == [] and "fail closed" in unpriced.skipped[0].reason


def test_without_rules_the_trade_is_exact_and_a_flip_is_one_order():
    (intent,) = target_position_orders("ETH/EUR", 0.7, -0.3)
    assert (intent.side.value, intent.quantity, intent.rounded_from) == ("sell", pytest.approx(1.0), None)
    assert target_position_orders("ETH/EUR", 0.3, 0.3).intents == []


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_a_non_finite_target_is_refused_not_traded(bad):
    with pytest.raises(ValueError, match="not a finite number"):
        target_position_orders("ETH/EUR", 0.0, bad)
