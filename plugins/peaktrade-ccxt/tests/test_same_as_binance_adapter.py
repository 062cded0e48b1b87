"""The same orders through peaktrade-ccxt configured for Binance and through the example
Binance adapter (``examples/peaktrade-binance``), against the same loopback Binance, give the
same fills and the same blocks; and a timeout after the venue accepted an order leaves
exactly one order at the venue, through either adapter."""

from __future__ import annotations

import math
import uuid

import pytest
from peaktrade_core.plugin_api import (
    ExchangeOrderExecutor,
    OrderRequest,
    OrderStatus,
    SecretRef,
    TradingMode,
)
from peaktrade_core.testing import create_order_executor, live_environment

from peaktrade_ccxt import hooks as ccxt_plugin
from peaktrade_ccxt.settings import CcxtSettings

pytestmark = pytest.mark.needs_plugins("peaktrade-binance")

SYMBOL = "BTC/EUR"


@pytest.fixture
def fake(monkeypatch):
    loopback = pytest.importorskip("peaktrade_binance.testing", reason="needs examples/peaktrade-binance installed")
    with loopback.LoopbackBinance() as fake:
        monkeypatch.setenv("PT_BINANCE_KEY", fake.api_key)
        monkeypatch.setenv("PT_BINANCE_SECRET", fake.api_secret)
        yield fake


def binance_adapter(fake):
    from peaktrade_binance.hooks import BinancePlugin
    from peaktrade_binance.settings import BinanceSettings

    settings = BinanceSettings(base_url=fake.url, api_key=SecretRef(env="PT_BINANCE_KEY"), api_secret=SecretRef(env="PT_BINANCE_SECRET"))
    return BinancePlugin().create_exchange_client(venue="binance", mode=TradingMode.LIVE, settings=settings)


def ccxt_adapter(fake):
    settings = CcxtSettings(
        api_key=SecretRef(env="PT_BINANCE_KEY"), api_secret=SecretRef(env="PT_BINANCE_SECRET"), urls=fake.url, timeout_seconds=30.0
    )
    return ccxt_plugin.create_exchange_client(venue="ccxt:binance", mode=TradingMode.LIVE, settings=settings, config=None)


ADAPTERS = {"binance": binance_adapter, "ccxt:binance": ccxt_adapter}


def orders() -> list[OrderRequest]:
    """One of each: fills, a resting order, each instrument rule broken, a symbol the gates
    do not allow, more than the account holds. Fresh client order ids every call."""

    def o(symbol, side, quantity, order_type="market", limit=None, ref=None):
        return OrderRequest(symbol, side, quantity, order_type, limit_price=limit, reference_price=ref, client_order_id=uuid.uuid4().hex)

    return [
        o(SYMBOL, "buy", 0.01, ref=40_000.0),  # fills at the last price, 0.1 % fee in EUR
        o(SYMBOL, "sell", 0.005, ref=40_000.0),
        o(SYMBOL, "buy", 0.02, "limit", 40_500.0),  # through the last price: fills
        o(SYMBOL, "buy", 0.01, "limit", 1_000.0),  # rests
        o(SYMBOL, "buy", 0.01, "limit", 39_999.995),  # off the 0.01 tick
        o(SYMBOL, "buy", 0.000015, "limit", 1_000.0),  # off the lot step, below the notional
        o(SYMBOL, "buy", 0.0001, "limit", 1_000.0),  # notional 0.1 below 5
        o("ETH/EUR", "buy", 0.1, ref=2_000.0),  # not in live_allowed_symbols: the gate blocks
        o(SYMBOL, "buy", 100.0, ref=40_000.0),  # 4,000,000 EUR: the venue refuses
    ]


def outcome(result) -> tuple:
    """What a user relies on, without ids and timestamps."""
    fills = [(f.quantity, f.price, round(f.fee, 10), f.fee_currency) for f in result.fills]
    reasons = result.reasons if result.status is not OrderStatus.REJECTED else []  # venue wording differs by adapter
    return (str(result.status), fills, math.fsum(f.quantity for f in result.fills), reasons)


def held(fake, ids) -> list[tuple]:
    return [(o["pair"], o["side"], o["type"], o["origQty"], o["price"], o["status"]) for o in fake.orders() if o["client_order_id"] in ids]


def test_the_same_orders_give_the_same_fills_and_the_same_blocks(fake):
    results, at_venue = {}, {}
    for venue, build in ADAPTERS.items():
        env = live_environment(exchange=venue, live_allowed_exchanges=(venue,), live_allowed_symbols=(SYMBOL,))
        batch = orders()
        results[venue] = [outcome(r) for r in create_order_executor(env, trading_client=build(fake)).execute_orders(batch)]
        at_venue[venue] = held(fake, {o.client_order_id for o in batch})

    assert results["ccxt:binance"] == results["binance"]
    assert at_venue["ccxt:binance"] == at_venue["binance"]
    statuses = [r[0] for r in results["binance"]]
    assert statuses == ["filled", "filled", "filled", "accepted"] + ["risk_blocked"] * 3 + ["gate_blocked", "rejected"]
    assert results["binance"][0][1] == [(0.01, 40_000.0, 0.4, "EUR")]
    assert len(at_venue["binance"]) == 4  # blocked orders never reached the venue, the refused one was not placed


@pytest.mark.parametrize("venue", list(ADAPTERS))
def test_a_timeout_after_accept_leaves_exactly_one_order_at_the_venue(fake, venue):
    client = ADAPTERS[venue](fake)
    fake.fail_next("timeout_after_accept")  # placed; the answer never comes
    order = OrderRequest(SYMBOL, "buy", 0.01, reference_price=40_000.0, client_order_id=uuid.uuid4().hex)
    [result] = ExchangeOrderExecutor(client, max_retries=4, backoff_seconds=0.0, timeout_seconds=2.0).execute_orders([order])
    assert result.status is OrderStatus.FILLED, result.reasons
    assert result.metadata["recovered_by"] == "fetch_order"  # reconciled by client order id
    assert [o["client_order_id"] for o in fake.orders()] == [order.client_order_id]
    submits = [c for c in fake.calls if (c["method"], c["path"]) == ("POST", "/api/v3/order")]
    assert len(submits) == 1  # sent once, never again
