"""Testnet and live dry-run executors: simulate, log with [LIVE-DRY-RUN], record, never send."""

from __future__ import annotations

import pytest
from peaktrade_core.plugin_api import OrderRequest, OrderStatus
from peaktrade_core.testing import captured

from peaktrade_dryrun import LiveOrderExecutor, TestnetOrderExecutor


@pytest.fixture
def log_lines():
    with captured("DEBUG") as lines:
        yield lines


def test_live_dry_run_result_is_marked_as_in_the_seed(log_lines):
    executor = LiveOrderExecutor(clock=lambda: 7.0)
    executor.set_simulated_price("BTC/EUR", 50_000.0)
    order = OrderRequest("BTC/EUR", "buy", 0.1)
    (result,) = executor.execute_orders([order])

    assert result.metadata["mode"] == "live_dry_run"
    assert result.metadata["dry_run"] is True
    assert result.status is OrderStatus.FILLED
    assert result.fills[0].price == 50_000.0 and result.fills[0].timestamp == 7.0
    assert executor.sends_real_orders is False
    (logged,) = [line for line in log_lines if order.client_order_id in line]
    assert logged.startswith("[LIVE-DRY-RUN] live_dry_run: buy 0.1 BTC/EUR market")
    assert logged.endswith("not sent")


def test_testnet_dry_run_is_marked_testnet():
    executor = TestnetOrderExecutor({"ETH/EUR": 3_000.0})
    (result,) = executor.execute_orders([OrderRequest("ETH/EUR", "sell", 2.0)])
    assert result.metadata == {"mode": "testnet_dry_run", "dry_run": True, "price_source": "configured"}
    assert executor.name == "testnet-dry-run"


def test_every_order_is_kept_as_an_event():
    executor = LiveOrderExecutor({"BTC/EUR": 50_000.0}, clock=lambda: 3.0)
    orders = [
        OrderRequest("BTC/EUR", "buy", 0.1),
        OrderRequest("BTC/EUR", "buy", 0.1, order_type="limit", limit_price=40_000.0),
        OrderRequest("XRP/EUR", "sell", 5.0),
    ]
    results = executor.execute_orders(orders)

    assert [r.status for r in results] == [
        OrderStatus.FILLED,
        OrderStatus.ACCEPTED,
        OrderStatus.REJECTED,
    ]
    assert "XRP/EUR" in results[2].reasons[0]
    assert [e["client_order_id"] for e in executor.events] == [o.client_order_id for o in orders]
    assert executor.events[1] == {
        "event": "order",
        "at": 3.0,
        "mode": "live_dry_run",
        "client_order_id": orders[1].client_order_id,
        "symbol": "BTC/EUR",
        "side": "buy",
        "quantity": 0.1,
        "order_type": "limit",
        "limit_price": 40_000.0,
        "simulated_price": 50_000.0,
        "status": "accepted",
    }


def test_events_are_bounded_for_long_sessions():
    executor = LiveOrderExecutor({"BTC/EUR": 1.0}, event_limit=2)
    executor.execute_orders([OrderRequest("BTC/EUR", "buy", float(q)) for q in (1, 2, 3)])
    assert [e["quantity"] for e in executor.events] == [2.0, 3.0]


def test_cancel_only_knows_simulated_resting_orders_and_records_it():
    executor = TestnetOrderExecutor({"BTC/EUR": 50_000.0})
    resting = OrderRequest("BTC/EUR", "sell", 0.1, order_type="limit", limit_price=60_000.0)
    executor.execute_orders([resting])
    assert executor.cancel_order(resting.client_order_id) is True
    assert executor.cancel_order(resting.client_order_id) is False
    assert [e["event"] for e in executor.events] == ["order", "cancel", "cancel"]


def test_simulated_prices_must_be_positive():
    with pytest.raises(ValueError, match="BTC/EUR"):
        LiveOrderExecutor({"BTC/EUR": -1.0})
