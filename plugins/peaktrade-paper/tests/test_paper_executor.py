"""The paper market model: prices, slippage, fees, limit crossing, liquidity, shadow records."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from peaktrade_core.plugin_api import OrderRequest, OrderStatus

from peaktrade_paper import PaperMarketContext, PaperOrderExecutor, ShadowOrderExecutor

NOW = 1_700_000_000.0


def executor(**market) -> PaperOrderExecutor:
    market.setdefault("prices", {"BTC/EUR": 50_000.0})
    return PaperOrderExecutor(PaperMarketContext(**market), clock=lambda: NOW)


def market_order(side="buy", quantity=0.5, symbol="BTC/EUR", **kw) -> OrderRequest:
    return OrderRequest(symbol, side, quantity, **kw)


def limit_order(side, limit, quantity=0.5, **kw) -> OrderRequest:
    return OrderRequest("BTC/EUR", side, quantity, order_type="limit", limit_price=limit, **kw)


def test_market_orders_fill_at_price_moved_against_the_trader_plus_fee():
    ex = executor(fee_bps=10, slippage_bps=20)
    buy, sell = ex.execute_orders([market_order("buy"), market_order("sell")])

    assert buy.status is OrderStatus.FILLED and sell.status is OrderStatus.FILLED
    assert buy.fills[0].price == pytest.approx(50_000.0 * 1.002)
    assert sell.fills[0].price == pytest.approx(50_000.0 * 0.998)
    assert buy.fills[0].fee == pytest.approx(0.5 * 50_100.0 * 0.001)
    assert buy.filled_quantity == 0.5
    assert buy.fills[0].timestamp == NOW
    assert buy.fills[0].client_order_id == buy.order.client_order_id


def test_one_result_per_order_in_order():
    ex = executor()
    orders = [market_order(quantity=q, source_ref=str(q)) for q in (0.1, 0.2, 0.3)]
    results = ex.execute_orders(orders)
    assert [r.order for r in results] == orders


def test_unknown_symbol_is_rejected_with_a_reason_naming_it():
    ex = executor()
    (result,) = ex.execute_orders([market_order(symbol="DOGE/EUR")])
    assert result.status is OrderStatus.REJECTED
    assert not result.fills
    assert "DOGE/EUR" in result.reasons[0]


@pytest.mark.parametrize(
    ("side", "limit", "fills"),
    [
        ("buy", 50_000.0, True),  # at the price: crosses
        ("buy", 51_000.0, True),
        ("buy", 49_999.0, False),
        ("sell", 50_000.0, True),
        ("sell", 49_000.0, True),
        ("sell", 50_001.0, False),
    ],
)
def test_limit_orders_fill_only_when_the_price_crosses(side, limit, fills):
    ex = executor()
    (result,) = ex.execute_orders([limit_order(side, limit)])
    if fills:
        assert result.status is OrderStatus.FILLED
    else:
        assert result.status is OrderStatus.ACCEPTED
        assert result.fills == []
        assert result.metadata["resting"] is True


def test_a_crossing_limit_never_fills_worse_than_its_limit():
    ex = executor(slippage_bps=100)  # slipped buy price 50_500 is above the limit
    (buy,) = ex.execute_orders([limit_order("buy", 50_200.0)])
    (sell,) = ex.execute_orders([limit_order("sell", 49_800.0)])
    assert buy.fills[0].price == 50_200.0
    assert sell.fills[0].price == 49_800.0


def test_resting_limit_can_be_cancelled_once():
    ex = executor()
    order = limit_order("buy", 40_000.0)
    ex.execute_orders([order])
    assert ex.cancel_order(order.client_order_id) is True
    assert ex.cancel_order(order.client_order_id) is False


def test_immediate_or_cancel_limit_that_does_not_cross_is_rejected_not_resting():
    ex = executor()
    order = limit_order("buy", 40_000.0, time_in_force="ioc")
    (result,) = ex.execute_orders([order])
    assert result.status is OrderStatus.REJECTED
    assert order.client_order_id not in ex.open_orders


def test_order_larger_than_liquidity_is_partially_filled():
    ex = executor(liquidity={"BTC/EUR": 0.2}, fee_bps=5)
    (result,) = ex.execute_orders([market_order(quantity=0.5)])
    assert result.status is OrderStatus.PARTIALLY_FILLED
    assert result.filled_quantity == 0.2
    assert result.metadata["unfilled_quantity"] == pytest.approx(0.3)
    assert result.fees == pytest.approx(0.2 * 50_000.0 * 0.0005)


def test_fill_or_kill_beyond_liquidity_is_rejected():
    ex = executor(liquidity={"BTC/EUR": 0.2})
    (result,) = ex.execute_orders([market_order(quantity=0.5, time_in_force="fok")])
    assert result.status is OrderStatus.REJECTED
    assert "0.2" in result.reasons[0]


def test_set_simulated_price_moves_the_market_and_rejects_nonsense():
    ex = executor()
    ex.set_simulated_price("ETH/EUR", 3_000.0)
    (result,) = ex.execute_orders([market_order(symbol="ETH/EUR")])
    assert result.fills[0].price == 3_000.0
    with pytest.raises(ValueError, match="ETH/EUR"):
        ex.set_simulated_price("ETH/EUR", 0.0)


def test_market_context_validates_its_parameters():
    with pytest.raises(ValueError):
        PaperMarketContext(fee_bps=-1)
    with pytest.raises(ValueError):
        PaperMarketContext(slippage_bps=10_000)  # would make sell prices zero
    with pytest.raises(ValueError):
        PaperMarketContext(liquidity={"BTC/EUR": 0.0})


def test_paper_executor_declares_it_sends_nothing():
    assert PaperOrderExecutor.sends_real_orders is False
    assert ShadowOrderExecutor.sends_real_orders is False


def test_shadow_records_what_would_have_been_done():
    ex = ShadowOrderExecutor(PaperMarketContext({"BTC/EUR": 50_000.0}), record_limit=3)
    orders = [market_order(quantity=0.1 * (i + 1), source_ref=str(i)) for i in range(5)]
    results = ex.execute_orders(orders)

    assert ex.name == "shadow"
    assert all(r.metadata["shadow"] is True for r in results)
    assert all(r.status is OrderStatus.FILLED for r in results)
    # bounded: a long session keeps only the most recent results in memory
    assert [r.order for r in ex.recorded] == orders[-3:]


quantities = st.floats(min_value=1e-6, max_value=1e6, allow_subnormal=False)
prices = st.floats(min_value=1e-4, max_value=1e7, allow_subnormal=False)
bps = st.floats(min_value=0.0, max_value=500.0, allow_subnormal=False)


@given(
    quantity=quantities,
    price=prices,
    liquidity=st.none() | quantities,
    fee_bps=bps,
    slippage_bps=bps,
    side=st.sampled_from(["buy", "sell"]),
    limit_offset=st.none() | st.floats(min_value=-0.05, max_value=0.05, allow_subnormal=False),
)
def test_fills_never_exceed_the_order_and_fees_are_exactly_fee_bps_of_notional(
    quantity, price, liquidity, fee_bps, slippage_bps, side, limit_offset
):
    market = PaperMarketContext(
        {"X": price},
        fee_bps=fee_bps,
        slippage_bps=slippage_bps,
        liquidity={} if liquidity is None else {"X": liquidity},
    )
    if limit_offset is None:
        order = OrderRequest("X", side, quantity)
    else:
        order = OrderRequest(
            "X", side, quantity, order_type="limit", limit_price=price * (1 + limit_offset)
        )
    (result,) = PaperOrderExecutor(market).execute_orders([order])

    assert result.filled_quantity <= order.quantity
    if liquidity is not None:
        assert result.filled_quantity <= liquidity
    for fill in result.fills:
        assert math.isclose(
            fill.fee, fill.quantity * fill.price * fee_bps / 10_000, rel_tol=1e-12, abs_tol=0.0
        )
        if order.limit_price is not None:  # never worse than the limit
            assert (
                fill.price <= order.limit_price
                if side == "buy"
                else fill.price >= order.limit_price
            )
    expected = {
        OrderStatus.FILLED: result.filled_quantity == order.quantity,
        OrderStatus.PARTIALLY_FILLED: 0 < result.filled_quantity < order.quantity,
        OrderStatus.ACCEPTED: result.fills == [],
    }
    assert expected[result.status]
