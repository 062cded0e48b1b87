"""A second exchange through the same plugin: ccxt's own kraken class against the loopback
Kraken of ``plugins/peaktrade-kraken`` (real HTTP on 127.0.0.1, Kraken's signing). Kraken's
fetch_order cannot take a client order id, so the plugin finds orders by listing them."""

from __future__ import annotations

import uuid

import pytest
from peaktrade_core.plugin_api import (
    ExchangeOrderExecutor,
    OrderRequest,
    OrderStatus,
    SecretRef,
    VenueError,
)

from peaktrade_ccxt.client import build_client
from peaktrade_ccxt.settings import CcxtSettings

pytestmark = pytest.mark.needs_plugins("peaktrade-kraken")


@pytest.fixture
def kraken(monkeypatch):
    loopback = pytest.importorskip("peaktrade_kraken.testing", reason="needs plugins/peaktrade-kraken installed")
    with loopback.LoopbackKraken() as fake:
        monkeypatch.setenv("PT_KRAKEN_KEY", fake.api_key)
        monkeypatch.setenv("PT_KRAKEN_SECRET", fake.api_secret)
        yield fake


def settings(fake) -> CcxtSettings:
    # ccxt spaces kraken's requests 3 s apart; the loopback enforces no limit, and the
    # executor's 2 s timeout below would count that wait as a lost answer
    return CcxtSettings(
        api_key=SecretRef(env="PT_KRAKEN_KEY"), api_secret=SecretRef(env="PT_KRAKEN_SECRET"), urls=fake.url, timeout_seconds=30.0, rate_limit=False
    )


def market_buy() -> OrderRequest:
    return OrderRequest("BTC/EUR", "buy", 0.01, reference_price=50_000.0, client_order_id=uuid.uuid4().hex)


def test_kraken_rules_come_from_its_asset_pairs(kraken):
    rules = build_client("ccxt:kraken", "live", settings(kraken)).instrument_rules("BTC/EUR")
    assert (rules.tick_size, rules.lot_step, rules.min_quantity, rules.min_notional) == (0.1, 1e-08, 0.0001, 0.5)


@pytest.mark.parametrize("fault", ["timeout_after_accept", "5xx"])
def test_a_lost_answer_leaves_exactly_one_order_at_kraken(kraken, fault):
    client = build_client("ccxt:kraken", "live", settings(kraken))
    assert client.lookup == "scan"
    kraken.fail_next(fault)  # placed; the answer is lost (held back, or a 502)
    order = market_buy()
    [result] = ExchangeOrderExecutor(client, max_retries=4, backoff_seconds=0.0, timeout_seconds=2.0).execute_orders([order])
    assert result.status is OrderStatus.FILLED, result.reasons
    assert result.metadata["recovered_by"] == "fetch_order"
    assert [o["client_order_id"] for o in kraken.orders()] == [order.client_order_id]


def test_cancel_by_client_order_id_at_kraken(kraken):
    client = build_client("ccxt:kraken", "live", settings(kraken))
    resting = OrderRequest("BTC/EUR", "buy", 0.01, "limit", limit_price=1_000.0, client_order_id=uuid.uuid4().hex)
    assert client.submit_order(resting)["status"] == "accepted"
    assert client.cancel_order(resting.client_order_id, "BTC/EUR") is True
    assert client.cancel_order(resting.client_order_id, "BTC/EUR") is False
    assert [o["status"] for o in kraken.orders()] == ["cancelled"]


def test_kraken_has_no_sandbox_in_ccxt_so_testnet_is_refused(kraken):
    with pytest.raises(VenueError, match="ccxt has no sandbox for kraken: testnet mode is refused"):
        build_client("ccxt:kraken", "testnet", settings(kraken))
    assert kraken.requests == 0
