"""The adapter against the loopback Binance: what each Binance answer makes the core do,
clock offsets, rate limits, request weight, lookups with fees, symbols and settings."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st
from peaktrade_binance.client import BinanceClient, binance_symbol, decimal_text
from peaktrade_binance.hooks import BinancePlugin
from peaktrade_binance.settings import BinanceSettings
from peaktrade_binance.testing import LoopbackBinance

from peaktrade_core.plugin_api import (
    ExchangeError,
    ExchangeOrderExecutor,
    OrderRequest,
    OrderStatus,
    TradingMode,
    TransientExchangeError,
    UnknownOutcomeError,
)


class Clock:
    """A clock that moves only when someone sleeps: waits are recorded, never spent."""

    def __init__(self, now: float = 1_700_000_000.0):
        self.now = now
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def fake():
    with LoopbackBinance() as venue:
        yield venue


def client_for(venue: LoopbackBinance, **kwargs) -> BinanceClient:
    return BinanceClient(venue.url, venue.api_key, venue.api_secret, **kwargs)


def market(quantity: float = 0.01, symbol: str = "BTC/EUR", side: str = "buy") -> OrderRequest:
    return OrderRequest(symbol, side, quantity, reference_price=40_000.0, client_order_id=uuid.uuid4().hex)


def posts(venue: LoopbackBinance) -> list[tuple[str, int]]:
    return [(c["path"], c["status"]) for c in venue.calls if c["method"] == "POST"]


# -- definite refusals --------------------------------------------------------------------


def test_binance_refusals_are_definite_and_never_retried(fake):
    client = client_for(fake)
    poor = market(quantity=100.0)  # 4,000,000 EUR of BTC
    [result] = ExchangeOrderExecutor(client, max_retries=3, backoff_seconds=0.0).execute_orders([poor])
    assert result.status is OrderStatus.REJECTED and result.metadata["attempts"] == 1
    assert "-2010" in result.reasons[0] and "insufficient balance" in result.reasons[0]

    order = market()
    client.submit_order(order)
    with pytest.raises(ExchangeError, match="-2010: Duplicate order sent") as duplicate:
        client.submit_order(order)  # the same client order id again
    assert type(duplicate.value) is ExchangeError
    off_tick = OrderRequest("BTC/EUR", "buy", 0.01, "limit", limit_price=1000.005, client_order_id=uuid.uuid4().hex)
    with pytest.raises(ExchangeError, match="-1013: Filter failure: PRICE_FILTER"):
        client.submit_order(off_tick)
    assert len(fake.orders()) == 1


def test_a_wrong_key_or_secret_is_a_definite_refusal_that_names_no_secret(fake):
    for client, code in ((BinanceClient(fake.url, "wrong-key", fake.api_secret), "-2015"),
                         (BinanceClient(fake.url, fake.api_key, "wrong-secret"), "-1022")):
        with pytest.raises(ExchangeError) as refused:
            client.fetch_balances()
        assert type(refused.value) is ExchangeError and code in str(refused.value)
        assert fake.api_secret not in str(refused.value) and "wrong-secret" not in str(refused.value)
        assert "wrong" not in repr(client) and fake.api_secret not in repr(client)


# -- unknown outcomes and back-off ----------------------------------------------------------


def test_a_timeout_on_submit_is_an_unknown_outcome_and_the_lookup_finds_the_order(fake):
    client = client_for(fake, timeout_seconds=2.0)
    fake.fail_next("timeout_after_accept")
    order = market()
    with pytest.raises(UnknownOutcomeError):
        client.submit_order(order)
    found = client.fetch_order(order.client_order_id, order.symbol)
    assert found["status"] == "filled" and len(fake.orders()) == 1


@pytest.mark.parametrize("kind", ["5xx", "5xx_not_placed"])
def test_a_5xx_on_submit_is_reconciled_to_exactly_one_order(fake, kind):
    fake.fail_next(kind)
    order = market()
    [result] = ExchangeOrderExecutor(client_for(fake), backoff_seconds=0.0).execute_orders([order])
    assert result.status is OrderStatus.FILLED, result.reasons
    assert result.metadata["retried_after"][0].startswith("outcome unknown")
    assert [o["client_order_id"] for o in fake.orders()] == [order.client_order_id]
    # placed before the 503: found by the lookup; not placed (502): sent again, once
    assert len(posts(fake)) == (1 if kind == "5xx" else 2)


@pytest.mark.parametrize(("kind", "status"), [("rate_limit", 429), ("ip_ban", 418)])
def test_rate_limits_are_transient_and_retry_after_is_honoured_before_the_next_request(kind, status):
    clock = Clock()
    with LoopbackBinance(retry_after_seconds=3, clock=clock) as venue:
        client = client_for(venue, clock=clock, sleep=clock.sleep, max_wait_seconds=5)
        venue.fail_next(kind)
        order = market()
        with pytest.raises(TransientExchangeError, match=f"binance {status} -1003"):
            client.submit_order(order)
        assert venue.orders() == [] and clock.sleeps == []
        assert client.submit_order(order)["status"] == "filled"
        assert clock.sleeps == [3.0]  # waited as told, then sent
        assert posts(venue) == [("/api/v3/order", status), ("/api/v3/order", 200)]


def test_a_retry_after_longer_than_max_wait_reports_instead_of_sleeping_and_sends_nothing():
    clock = Clock()
    with LoopbackBinance(retry_after_seconds=120, clock=clock) as venue:
        client = client_for(venue, clock=clock, sleep=clock.sleep, max_wait_seconds=10)
        venue.fail_next("ip_ban")
        with pytest.raises(TransientExchangeError):
            client.submit_order(market())
        before = venue.requests
        with pytest.raises(TransientExchangeError, match="next request in 120s"):
            client.submit_order(market())
        assert venue.requests == before and clock.sleeps == []


def test_request_weight_near_the_limit_waits_for_the_next_minute_instead_of_hitting_it():
    clock = Clock(1_700_000_020.0)  # 20 s before a minute ends
    with LoopbackBinance(clock=clock, weight_limit=100) as venue:
        client = client_for(venue, clock=clock, sleep=clock.sleep, weight_limit=100, slow_down_at=0.5, max_wait_seconds=30)
        for _ in range(3):
            client.fetch_balances()  # 20 each (+1 for the clock sync)
        assert client.used_weight == 61 and clock.sleeps == []
        client.fetch_balances()
        assert clock.sleeps == [20.0] and client.used_weight == 20  # a new minute
        assert all(c["status"] == 200 for c in venue.calls)  # never ran into Binance's limit


def test_a_refused_connection_is_transient_nothing_was_sent():
    with LoopbackBinance() as venue:
        url = venue.url
    client = BinanceClient(url, "k", "s", timeout_seconds=2)
    with pytest.raises(TransientExchangeError):
        client.submit_order(market())
    with pytest.raises(TransientExchangeError):
        client.fetch_balances()


# -- clocks ---------------------------------------------------------------------------------


@pytest.mark.parametrize("skew", [-20.0, 20.0])
def test_signed_requests_carry_binance_time_whatever_the_local_clock_says(fake, skew):
    fake.clock_offset = skew  # Binance's clock 20 s behind / ahead of this machine's
    client = client_for(fake)
    assert client.fetch_balances()["EUR"] == 100_000.0
    assert abs(client.time_offset_ms - skew * 1000) < 5000  # half a round trip at most


def test_minus_1021_resyncs_the_clock_offset_and_sends_once_more(fake):
    client = client_for(fake)
    client.fetch_balances()
    fake.clock_offset = 30.0  # Binance's clock jumps: our timestamps are 30 s old
    order = market()
    assert client.submit_order(order)["status"] == "filled"
    assert posts(fake) == [("/api/v3/order", 400), ("/api/v3/order", 200)]
    assert [c["path"] for c in fake.calls].count("/api/v3/time") == 2
    assert len(fake.orders()) == 1


# -- answers --------------------------------------------------------------------------------


def test_fills_and_fees_from_the_order_answer_and_from_the_lookup_agree(fake):
    client = client_for(fake)
    order = market()
    submitted = client.submit_order(order)
    looked_up = client.fetch_order(order.client_order_id, "BTC/EUR")
    for answer in (submitted, looked_up):
        assert answer["client_order_id"] == order.client_order_id and answer["status"] == "filled"
        [fill] = answer["fills"]
        assert (fill["quantity"], fill["price"], fill["fee"], fill["fee_currency"]) == (0.01, 40_000.0, 0.4, "EUR")
    assert client.fetch_positions() == {"BTC/EUR": 1.01, "ETH/EUR": 10.0}
    assert client.fetch_balances()["EUR"] == pytest.approx(100_000 - 400 - 0.4)


def test_instrument_rules_are_binance_filters(fake):
    rules = client_for(fake).instrument_rules("BTC/EUR")
    assert (rules.tick_size, rules.lot_step, rules.min_quantity, rules.min_notional) == (0.01, 0.00001, 0.00001, 5.0)
    with pytest.raises(ExchangeError, match="-1121"):
        client_for(fake).instrument_rules("DOGE/EUR")


def test_open_orders_name_the_core_symbol_and_cancel_all_without_a_symbol_covers_every_symbol(fake):
    client = client_for(fake)
    for symbol in ("BTC/EUR", "ETH/EUR"):
        client.submit_order(OrderRequest(symbol, "buy", 0.01, "limit", limit_price=1000.0, client_order_id=uuid.uuid4().hex))
    assert sorted(o["symbol"] for o in client.fetch_open_orders()) == ["BTC/EUR", "ETH/EUR"]
    assert client.cancel_all("ETH/EUR") == 1 and client.cancel_all("ETH/EUR") == 0
    assert client.cancel_all() == 1 and client.fetch_open_orders() == []


@pytest.mark.parametrize("symbol", ["BTCEUR", "BTC-EUR", "BTC/", "/EUR", "BTC/EUR/X"])
def test_symbols_that_are_not_base_slash_quote_are_refused_not_guessed(symbol):
    with pytest.raises(ExchangeError):
        binance_symbol(symbol)


@given(st.floats(min_value=1e-8, max_value=1e9, allow_nan=False, allow_infinity=False))
def test_quantities_and_prices_are_sent_as_plain_decimals_exactly(value):
    from decimal import Decimal

    text = decimal_text(value)
    assert "e" not in text.lower() and Decimal(text) == Decimal(repr(value))


# -- the plugin -------------------------------------------------------------------------------


def test_modes_choose_url_keys_and_validate_only_and_building_sends_nothing(fake, monkeypatch):
    monkeypatch.setenv("BINANCE_API_KEY", "live-key")
    monkeypatch.setenv("BINANCE_API_SECRET", "live-secret")
    monkeypatch.setenv("BINANCE_TESTNET_API_KEY", fake.api_key)
    monkeypatch.setenv("BINANCE_TESTNET_API_SECRET", fake.api_secret)
    settings = BinanceSettings(base_url="https://api.binance.com", testnet_base_url=fake.url, validate_only=True)
    plugin = BinancePlugin()
    live = plugin.create_exchange_client(venue="binance", mode=TradingMode.LIVE, settings=settings)
    testnet = plugin.create_exchange_client(venue="binance", mode=TradingMode.TESTNET, settings=settings)
    assert (live.endpoint, live.testnet, live.validate_only) == ("https://api.binance.com", False, False)
    assert (testnet.endpoint, testnet.testnet, testnet.validate_only) == (fake.url, True, True)
    assert plugin.create_exchange_client(venue="kraken", mode=TradingMode.LIVE, settings=settings) is None
    assert fake.requests == 0  # building a client never connects
    assert testnet.fetch_balances()["EUR"] == 100_000.0  # the testnet keys sign testnet requests
    assert BinanceSettings().testnet_base_url == "https://testnet.binance.vision"


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ('api_secret = "abc"', "plugins.binance.api_secret: literal secret not allowed"),
        ("recv_window_ms = 70000", "recv_window_ms must be between 1 and 60000"),
        ('base_url = "http://api.binance.com"', "base_url must be https://"),
        ("validate_onyl = true", "validate_onyl"),
    ],
)
def test_settings_mistakes_are_one_line_naming_file_and_key(tmp_path, line, problem):
    import subprocess
    import sys

    config = tmp_path / "config.toml"
    config.write_text(f"[plugins.binance]\n{line}\n")
    out = subprocess.run([sys.executable, "-m", "peaktrade_core", "--config", str(config), "config", "validate"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    [message] = out.stderr.strip().splitlines()
    assert message.startswith(f"{config}: plugins.binance") and problem in message
