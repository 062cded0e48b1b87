"""The Kraken client against the loopback Kraken over real HTTP on 127.0.0.1."""

from __future__ import annotations

import urllib.parse
import uuid

import pytest
from peaktrade_kraken.client import decimal_text, kraken_cl_ord_id

from peaktrade_core.plugin_api import (
    ExchangeError,
    ExchangeOrderExecutor,
    OrderRequest,
    OrderStatus,
    TransientExchangeError,
    UnknownOutcomeError,
)


def market(quantity=0.01, symbol="BTC/EUR", side="buy"):
    # a reference price: the core checks Kraken's cost minimum before submit
    return OrderRequest(symbol, side, quantity, reference_price=50_000.0, client_order_id=uuid.uuid4().hex)


def resting(symbol="BTC/EUR", price=1000.0, quantity=0.01):
    return OrderRequest(symbol, "buy", quantity, "limit", limit_price=price, client_order_id=uuid.uuid4().hex)


def sent(kraken, endpoint):
    """The form bodies of every request to ``endpoint``."""
    return [dict(urllib.parse.parse_qsl(r["body"])) for r in kraken.received if r["path"].endswith("/" + endpoint)]


# -- orders --------------------------------------------------------------------------------


def test_validate_only_addorder_is_validated_and_places_nothing(kraken, make_client):
    client = make_client(validate_only=True)
    assert client.testnet and client.validate_only and client.endpoint == kraken.url
    order = market()
    response = client.submit_order(order)
    assert response["status"] == "validated" and response["client_order_id"] == order.client_order_id
    [body] = sent(kraken, "AddOrder")
    assert body["validate"] == "true" and body["cl_ord_id"] == order.client_order_id
    assert kraken.orders() == [] and kraken.validated == 1


def test_live_market_order_fills_with_fee_currency(kraken, make_client):
    client = make_client()
    assert not client.testnet and not client.validate_only
    order = market(0.02)
    response = client.submit_order(order)
    assert response["status"] == "filled" and response["venue_order_id"]
    [fill] = response["fills"]
    assert fill["quantity"] == pytest.approx(0.02) and fill["price"] == pytest.approx(50_000.0)
    assert fill["fee"] == pytest.approx(0.02 * 50_000 * 0.0026) and fill["fee_currency"] == "EUR"
    [body] = sent(kraken, "AddOrder")
    assert "validate" not in body and body["pair"] == "XBTEUR" and body["volume"] == "0.02"
    assert client.fetch_order(order.client_order_id, order.symbol)["status"] == "filled"
    assert client.fetch_order(uuid.uuid4().hex, order.symbol) is None
    assert client.fetch_balances()["BTC"] == pytest.approx(10.02)


def test_resting_order_listed_cancelled_by_client_id(kraken, make_client):
    client = make_client()
    order = resting()
    assert client.submit_order(order)["status"] == "accepted"
    [listed] = client.fetch_open_orders("BTC/EUR")
    assert listed["client_order_id"] == order.client_order_id and listed["symbol"] == "BTC/EUR"
    assert client.fetch_open_orders("ETH/EUR") == []
    assert client.cancel_order(order.client_order_id, order.symbol) is True
    assert client.fetch_order(order.client_order_id, order.symbol)["status"] == "cancelled"
    assert client.cancel_order(order.client_order_id, order.symbol) is False
    assert sent(kraken, "CancelOrder")[0]["cl_ord_id"] == order.client_order_id


def test_cancel_all_by_symbol_then_everything(kraken, make_client):
    client = make_client()
    for order in (resting(), resting(), resting("ETH/EUR")):
        client.submit_order(order)
    assert client.cancel_all("BTC/EUR") == 2
    assert [o["symbol"] for o in kraken.open_orders()] == ["ETH/EUR"]
    assert client.cancel_all() == 1 and kraken.open_orders() == []
    assert kraken.by_endpoint["CancelAll"] == 1


def test_instrument_rules_and_symbol_map_from_assetpairs(make_client):
    client = make_client()
    rules = client.instrument_rules("BTC/EUR")
    assert (rules.symbol, rules.tick_size, rules.lot_step, rules.min_quantity, rules.min_notional) == ("BTC/EUR", 0.1, 1e-8, 0.0001, 0.5)
    for name in ("BTC/EUR", "XBT/EUR", "XBTEUR", "XXBTZEUR"):
        assert client.pair(name)["key"] == "XXBTZEUR"
    assert client.symbol_of("XBTEUR") == "BTC/EUR"
    with pytest.raises(ExchangeError, match="unknown symbol"):
        client.instrument_rules("DOGE/XYZ")


def test_numbers_are_sent_exactly_and_ids_fit_krakens_format():
    assert [decimal_text(v) for v in (0.01, 1e-05, 37500.0, 0.010000005)] == ["0.01", "0.00001", "37500", "0.010000005"]
    hex_id = uuid.uuid4().hex
    assert kraken_cl_ord_id(hex_id) == hex_id  # what the core makes: Kraken's short UUID
    assert kraken_cl_ord_id(str(uuid.UUID(hex_id))) == str(uuid.UUID(hex_id))
    assert kraken_cl_ord_id("my-order-17") == "my-order-17"  # free text up to 18 characters
    long_id = "orders.csv line 17 of a very long file"
    assert kraken_cl_ord_id(long_id) == kraken_cl_ord_id(long_id) and len(kraken_cl_ord_id(long_id)) == 32


# -- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ("rate_limit", TransientExchangeError),
        ("lockout", TransientExchangeError),
        ("unavailable", UnknownOutcomeError),
        ("busy", UnknownOutcomeError),
        ("5xx", UnknownOutcomeError),
        ("5xx_before", UnknownOutcomeError),
        ("timeout_after_accept", UnknownOutcomeError),
    ],
)
def test_faults_map_to_the_outcomes_the_executor_acts_on(kraken, make_client, fault, expected):
    client = make_client()
    kraken.fail_next(fault)
    with pytest.raises(expected):
        client.submit_order(market())


@pytest.mark.parametrize(
    ("order", "message"),
    [
        (market(1_000.0), "EOrder:Insufficient funds"),
        (resting(price=1000.05), "EOrder:Invalid price"),
        (resting(quantity=0.00005), "EOrder:Order minimum not met"),
        (resting(quantity=0.0100000001), "EGeneral:Invalid arguments:volume"),
    ],
)
def test_krakens_refusals_are_definite(kraken, make_client, order, message):
    with pytest.raises(ExchangeError, match=message) as refused:
        make_client().submit_order(order)
    assert type(refused.value) is ExchangeError and kraken.orders() == []


def test_wrong_key_or_secret_is_a_definite_refusal(kraken, make_client, monkeypatch):
    client = make_client()
    monkeypatch.setenv("PEAK_TRADE_KRAKEN_API_KEY", "someone-else")
    with pytest.raises(ExchangeError, match="EAPI:Invalid key") as refused:
        client.fetch_balances()
    assert type(refused.value) is ExchangeError
    monkeypatch.setenv("PEAK_TRADE_KRAKEN_API_KEY", kraken.api_key)
    monkeypatch.setenv("PEAK_TRADE_KRAKEN_API_SECRET", "A" * 88)
    with pytest.raises(ExchangeError, match="EAPI:Invalid signature") as refused:
        make_client().fetch_balances()
    assert type(refused.value) is ExchangeError


def test_missing_credentials_say_which_setting(kraken, make_client, monkeypatch):
    monkeypatch.delenv("PEAK_TRADE_KRAKEN_API_SECRET")
    with pytest.raises(ExchangeError, match="PEAK_TRADE_KRAKEN_API_SECRET is not set"):
        make_client().fetch_balances()
    assert kraken.requests == 0


def test_no_connection_is_transient_and_sends_nothing(make_client, kraken):
    client = make_client()
    kraken.stop()
    with pytest.raises(TransientExchangeError, match="nothing was sent"):
        client.server_time()


def test_invalid_nonce_is_retried_once_with_a_fresh_nonce(kraken, make_client):
    client = make_client()
    kraken.fail_next("invalid_nonce", "Balance")
    assert client.fetch_balances()["EUR"] > 0
    first, second = sent(kraken, "Balance")
    assert int(second["nonce"]) > int(first["nonce"])
    kraken.fail_next("invalid_nonce")  # AddOrder refused for its nonce: certainly not placed, sent again
    order = market()
    assert client.submit_order(order)["status"] == "filled"
    assert len([o for o in kraken.orders() if o["client_order_id"] == order.client_order_id]) == 1
    kraken.fail_next("invalid_nonce", "Balance")
    kraken.fail_next("invalid_nonce", "Balance")
    with pytest.raises(ExchangeError, match="twice"):
        client.fetch_balances()


def test_nonces_continue_across_clients_of_one_key(kraken, make_client):
    make_client().fetch_balances()
    make_client().fetch_balances()  # a restart: a new client, the same state store
    nonces = [int(b["nonce"]) for b in sent(kraken, "Balance")]
    assert nonces[1] > nonces[0]


# -- the venue's state blocks submits -------------------------------------------------------


@pytest.mark.parametrize("status", ["cancel_only", "post_only", "maintenance"])
def test_system_status_blocks_submits_with_a_reason(kraken, make_client, status):
    client = make_client()
    kraken.status = status
    with pytest.raises(ExchangeError, match=f"submit blocked, nothing sent: .*{status}") as refused:
        client.submit_order(market())
    assert type(refused.value) is ExchangeError
    assert kraken.by_endpoint["AddOrder"] == 0
    assert client.ping()["submits_blocked"]
    kraken.status = "online"
    assert client.submit_order(market())["status"] == "filled"


def test_clock_skew_above_the_bound_blocks_submits(kraken, make_client):
    client = make_client(max_clock_skew_seconds=5.0)
    kraken.skew_seconds = 90.0
    with pytest.raises(ExchangeError, match=r"clock skew \+\d+\.\ds .* max_clock_skew_seconds = 5"):
        client.submit_order(market())
    assert kraken.by_endpoint["AddOrder"] == 0
    assert client.ping()["clock_skew_seconds"] > 80
    kraken.skew_seconds = 0.0
    assert client.submit_order(market())["status"] == "filled"


def test_ping_and_server_time(kraken, make_client):
    import time

    client = make_client()
    answer = client.ping()
    assert answer["status"] == "online" and answer["submits_blocked"] is None and answer["endpoint"] == kraken.url
    assert abs(client.server_time() - time.time()) < 600
    assert client.fetch_ticker("BTC/EUR") == 50_000.0


# -- the call counter ----------------------------------------------------------------------


def test_the_client_counter_keeps_the_key_under_krakens_limit(kraken, make_client):
    kraken.rate_limit_max, kraken.rate_limit_decay = 4, 2.0
    client = make_client(rate_limit_max=4, rate_limit_decay_per_second=2.0)
    for _ in range(10):
        client.fetch_balances()
    assert kraken.rate_limited == 0


def test_clients_on_one_data_directory_share_the_counter(kraken, make_client):
    kraken.rate_limit_max, kraken.rate_limit_decay = 4, 2.0
    session, kill = (make_client(rate_limit_max=4, rate_limit_decay_per_second=2.0) for _ in range(2))
    for _ in range(5):
        session.fetch_balances()
        kill.fetch_balances()
    assert kraken.rate_limited == 0


def test_without_the_counter_the_same_calls_trip_the_limit(kraken, make_client):
    kraken.rate_limit_max, kraken.rate_limit_decay = 3, 0.5
    client = make_client(rate_limit_max=1000.0)
    with pytest.raises(TransientExchangeError, match="EAPI:Rate limit exceeded"):
        for _ in range(30):
            client.fetch_balances()
    assert kraken.rate_limited == 1


# -- through the core's executor -----------------------------------------------------------


def executor(client, sleeps=None):
    return ExchangeOrderExecutor(client, max_retries=4, backoff_seconds=0.01, timeout_seconds=5.0, sleep=(sleeps.append if sleeps is not None else (lambda s: None)))


def test_timeout_after_accept_gives_exactly_one_order(kraken, make_client):
    kraken.fail_next("timeout_after_accept")
    order = market()
    [result] = executor(make_client()).execute_orders([order])
    assert result.status is OrderStatus.FILLED, result.reasons
    assert result.metadata["recovered_by"] == "fetch_order"
    assert [o["client_order_id"] for o in kraken.orders()] == [order.client_order_id]


def test_rate_limit_backs_off_and_nothing_is_lost(kraken, make_client):
    sleeps = []
    kraken.fail_next("rate_limit")
    orders = [market(), market()]
    results = executor(make_client(), sleeps).execute_orders(orders)
    assert [r.status for r in results] == [OrderStatus.FILLED, OrderStatus.FILLED]
    assert results[0].metadata["retried_after"][0].startswith("transient") and sleeps == [0.01]
    assert sorted(o["client_order_id"] for o in kraken.orders()) == sorted(o.client_order_id for o in orders)


def test_5xx_after_placing_is_reconciled_to_one_order(kraken, make_client):
    kraken.fail_next("5xx")
    order = market()
    [result] = executor(make_client()).execute_orders([order])
    assert result.status is OrderStatus.FILLED and result.metadata["recovered_by"] == "fetch_order"
    assert len(kraken.orders()) == 1


def test_service_unavailable_before_placing_is_reconciled_then_sent_once(kraken, make_client):
    kraken.fail_next("unavailable")
    order = market()
    [result] = executor(make_client()).execute_orders([order])
    assert result.status is OrderStatus.FILLED and "recovered_by" not in result.metadata
    assert any("outcome unknown" in e for e in result.metadata["retried_after"])
    assert len(kraken.orders()) == 1


def test_a_request_stuck_past_its_deadline_never_lands_after_a_resubmit(kraken, make_client):
    """The submit times out while the request still waits on the way to the engine; the
    executor finds nothing and submits again. The stuck request reaches the engine after
    its deadline and is rejected: one order, not two."""
    kraken.delay_next(5.0)
    order = market()
    [result] = executor(make_client(timeout_seconds=1.0)).execute_orders([order])
    assert result.status is OrderStatus.FILLED and any("outcome unknown" in e for e in result.metadata["retried_after"])
    assert kraken.wait_for(lambda: kraken.late_processed == 1, timeout=60)
    assert [o["client_order_id"] for o in kraken.orders()] == [order.client_order_id]


def test_every_addorder_carries_a_deadline_within_krakens_bounds(kraken, make_client):
    from datetime import datetime

    make_client(timeout_seconds=1.0).submit_order(market())
    make_client(timeout_seconds=600.0).submit_order(market())
    requests = [r for r in kraken.received if r["path"].endswith("/AddOrder")]
    ahead = [datetime.fromisoformat(dict(urllib.parse.parse_qsl(r["body"]))["deadline"].replace("Z", "+00:00")).timestamp() - r["at"] for r in requests]
    assert 0 < ahead[0] <= 2.5 and 2.5 < ahead[1] <= 60  # ahead of the engine on arrival, never beyond Kraken's 60 s
