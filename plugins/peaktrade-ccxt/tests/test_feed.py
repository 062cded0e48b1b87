"""The ccxt venue's market-data feed: ccxt's public tickers polled through
``open_market_feed`` against the loopback Binance and the loopback Kraken on 127.0.0.1. No
key is used and nothing is signed, even with keys configured; quotes stop while the tickers
are down and resume when they answer; one odd ticker never costs the other symbols their
quotes."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from peaktrade_core.plugin_api import (
    PeakTradeConfig,
    SecretRef,
    get_plugin_manager,
    open_feed,
    open_recorded_feed,
)
from peaktrade_core.testing import next_quote_where, wait_until

from peaktrade_ccxt.feed import ticker_quote
from peaktrade_ccxt.settings import CcxtSettings

WAIT = 60.0
#: the loopback Binance's clock: every ticker it answers carries this time
VENUE_TIME = 1_767_225_600.0
PUBLIC = {"/api/v3/ping", "/api/v3/time", "/api/v3/exchangeInfo", "/api/v3/ticker/price", "/api/v3/ticker/24hr",
          "/api/v3/ticker/bookTicker"}


@pytest.fixture
def binance(monkeypatch):
    loopback = pytest.importorskip("peaktrade_binance.testing", reason="the loopback Binance (examples/peaktrade-binance)")
    with loopback.LoopbackBinance(clock=lambda: VENUE_TIME) as fake:
        monkeypatch.setenv("PT_CCXT_KEY", fake.api_key)  # configured, and still never used
        monkeypatch.setenv("PT_CCXT_SECRET", fake.api_secret)
        yield fake


def feed_settings(fake, **overrides) -> CcxtSettings:
    # rate_limit off: ccxt would space the polls by the exchange's limit (kraken: 3 s)
    values = {"urls": fake.url, "feed_interval_seconds": 0.01, "rate_limit": False, "timeout_seconds": 30.0}
    return CcxtSettings(**{**values, **overrides})


def opened(settings: CcxtSettings, venue: str, symbols: list[str]):
    return open_feed(PeakTradeConfig(plugins={"ccxt": settings}), get_plugin_manager(), source=venue, symbols=symbols)


@pytest.fixture
def binance_feed(binance):
    keys = {"api_key": SecretRef(env="PT_CCXT_KEY"), "api_secret": SecretRef(env="PT_CCXT_SECRET")}
    feed = opened(feed_settings(binance, **keys), "ccxt:binance", ["BTC/EUR", "ETH/EUR"])
    yield feed
    feed.close()


def test_binance_tickers_are_quoted_at_their_last_price_and_time_and_nothing_is_signed(binance, binance_feed):
    assert binance_feed.name == "ccxt:binance:ticker"
    binance.set_price("BTCEUR", "43210.5")
    quote = next_quote_where(binance_feed, lambda q: q.symbol == "BTC/EUR" and q.price == 43_210.5)
    assert (quote.bid, quote.ask, quote.at) == (43_210.5, 43_210.5, VENUE_TIME)  # the ticker's closeTime
    assert next_quote_where(binance_feed, lambda q: q.symbol == "ETH/EUR").price == 2_000.0
    tickers = [c for c in binance.calls if c["path"] == "/api/v3/ticker/24hr"]
    assert tickers and json.loads(tickers[0]["params"]["symbols"]) == ["BTCEUR", "ETHEUR"]  # one request per poll
    assert {c["path"] for c in binance.calls} <= PUBLIC
    assert all(c["signature_valid"] is None for c in binance.calls)  # keys configured, nothing signed
    assert binance.orders() == []


def test_quotes_stop_while_the_tickers_are_down_and_resume(binance, binance_feed):
    next_quote_where(binance_feed, lambda q: True)
    binance.market_data_down = True
    failed_polls = lambda: sum(c["status"] == 503 for c in binance.calls)  # noqa: E731
    wait_until(lambda: failed_polls() >= 1)
    while binance_feed.next_quote(timeout=0.05) is not None:  # the quotes polled before the outage
        pass
    seen = failed_polls()
    wait_until(lambda: failed_polls() >= seen + 2)  # two more polls failed, none quoted
    assert binance_feed.next_quote(timeout=0.05) is None
    assert not binance_feed.ended and binance_feed.error is None
    assert binance_feed.inner.failures >= 2 and "ccxt:binance tickers: OperationFailed" in binance_feed.inner.last_error
    binance.set_price("BTCEUR", "44000")
    binance.market_data_down = False
    assert next_quote_where(binance_feed, lambda q: q.symbol == "BTC/EUR" and q.price == 44_000.0)
    assert binance_feed.inner.failures == 0
    assert binance.orders() == []


def test_an_unknown_symbol_is_a_failed_poll_not_a_crash(binance):
    feed = opened(feed_settings(binance), "ccxt:binance", ["DOGE/EUR"])
    try:
        deadline = time.monotonic() + WAIT
        while feed.inner.failures < 2 and time.monotonic() < deadline:  # polled, failed, polled again
            assert feed.next_quote(timeout=0.05) is None
        assert feed.inner.failures >= 2 and "BadSymbol" in feed.inner.last_error
        assert not feed.ended and feed.error is None
    finally:
        feed.close()


def test_an_exchange_without_fetch_tickers_is_polled_one_ticker_per_symbol(binance, monkeypatch):
    """Many ccxt exchanges can read one ticker per request only: the feed asks each symbol."""
    import ccxt

    described = ccxt.binance.describe

    def without_fetch_tickers(self):
        description = described(self)
        return {**description, "has": {**description["has"], "fetchTickers": False}}

    monkeypatch.setattr(ccxt.binance, "describe", without_fetch_tickers)
    binance.set_price("BTCEUR", "43210.5")
    feed = opened(feed_settings(binance), "ccxt:binance", ["BTC/EUR", "ETH/EUR"])
    try:
        assert next_quote_where(feed, lambda q: q.symbol == "BTC/EUR").price == 43_210.5
        assert next_quote_where(feed, lambda q: q.symbol == "ETH/EUR").price == 2_000.0
    finally:
        feed.close()
    tickers = [c["params"] for c in binance.calls if c["path"] == "/api/v3/ticker/24hr"]
    assert tickers and all("symbols" not in params for params in tickers)  # never the many-ticker request
    assert {params["symbol"] for params in tickers} == {"BTCEUR", "ETHEUR"}
    assert all(c["signature_valid"] is None for c in binance.calls) and binance.orders() == []


def test_configured_keys_are_never_resolved_by_the_feed(binance, monkeypatch):
    monkeypatch.delenv("PT_CCXT_KEY")  # a key reference that cannot be resolved: the feed never tries
    keys = {"api_key": SecretRef(env="PT_CCXT_KEY"), "api_secret": SecretRef(env="PT_CCXT_SECRET")}
    feed = opened(feed_settings(binance, **keys), "ccxt:binance", ["BTC/EUR"])
    try:
        assert next_quote_where(feed, lambda q: True).symbol == "BTC/EUR"
    finally:
        feed.close()
    assert all(c["signature_valid"] is None for c in binance.calls)


@pytest.mark.needs_plugins("peaktrade-kraken")
def test_kraken_tickers_through_ccxt_are_stamped_when_they_arrive_and_nothing_private_is_called():
    loopback = pytest.importorskip("peaktrade_kraken.testing", reason="needs plugins/peaktrade-kraken installed")
    with loopback.LoopbackKraken() as kraken:
        kraken.set_price("BTC/EUR", 43_210.5, spread=1.0)
        before = time.time()
        feed = opened(feed_settings(kraken), "ccxt:kraken", ["BTC/EUR", "ETH/EUR"])
        try:
            quote = next_quote_where(feed, lambda q: q.symbol == "BTC/EUR")
            assert (quote.price, quote.bid, quote.ask) == (43_210.5, 43_210.0, 43_211.0)
            assert before <= quote.at <= time.time()  # Kraken's ticker has no time of its own
            assert next_quote_where(feed, lambda q: q.symbol == "ETH/EUR").price == 2_500.0
        finally:
            feed.close()
        assert kraken.by_endpoint["Ticker"] >= 1
        assert [r["path"] for r in kraken.received if "/private/" in r["path"]] == []
        assert kraken.orders() == []


def test_recorded_with_the_cli_and_shown(binance, tmp_path):
    (tmp_path / "config.toml").write_text(
        f'[plugins.ccxt]\nurls = "{binance.url}"\nfeed_interval_seconds = 0.01\nrate_limit = false\ntimeout_seconds = 30\n'
    )
    binance.set_price("BTCEUR", "43000.5")

    def peaktrade(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "peaktrade_core", "--config", "config.toml", *args], cwd=tmp_path,
                              capture_output=True, text=True, timeout=300, env={**os.environ, "PEAK_TRADE_PLUGINS": "ccxt"})

    done = peaktrade("feed", "record", "--source", "ccxt:binance", "--symbols", "BTC/EUR,ETH/EUR", "--output", "rec.jsonl",
                     "--count", "4")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "recorded 4 quote(s) of BTC/EUR, ETH/EUR from ccxt:binance to rec.jsonl (count reached)"
    replayed = list(open_recorded_feed(tmp_path / "rec.jsonl"))
    assert {(q.symbol, q.price, q.at) for q in replayed} == {("BTC/EUR", 43_000.5, VENUE_TIME), ("ETH/EUR", 2_000.0, VENUE_TIME)}

    shown = peaktrade("feed", "show", "rec.jsonl", "--json")
    assert shown.returncode == 0, shown.stderr
    summary = json.loads(shown.stdout)
    assert summary["quotes"] == 4 and summary["symbols"]["BTC/EUR"]["last_price"] == 43_000.5
    assert all(c["signature_valid"] is None for c in binance.calls) and binance.orders() == []


def test_the_hook_declines_venues_that_are_not_ccxt_ones():
    from peaktrade_ccxt import hooks

    assert hooks.open_market_feed("binance", ["BTC/EUR"], CcxtSettings(), None) is None


odd_numbers = st.one_of(
    st.none(), st.floats(allow_nan=True, allow_infinity=True), st.integers(-10, 10**30),
    st.sampled_from(["", "n/a", "1e400", "-5", "42.5"]),
)


@settings(max_examples=200, deadline=None)
@given(last=odd_numbers, bid=odd_numbers, ask=odd_numbers, stamp=odd_numbers, volume=odd_numbers)
def test_any_ticker_gives_a_valid_quote_or_none_never_an_error(last, bid, ask, stamp, volume):
    """A poll quotes every symbol at once: one ticker with odd values must not fail it."""
    ticker = {"last": last, "bid": bid, "ask": ask, "timestamp": stamp, "baseVolume": volume}
    quote = ticker_quote("BTC/EUR", ticker, received=VENUE_TIME)

    def positive(value):
        try:
            number = float(value)
        except (TypeError, ValueError):
            return None
        return number if math.isfinite(number) and number > 0 else None

    if positive(last) is None and (positive(bid) is None or positive(ask) is None):
        assert quote is None
        return
    assert quote is not None
    assert quote.price == (positive(last) or positive(bid) / 2 + positive(ask) / 2)
    assert (quote.bid, quote.ask) == (positive(bid), positive(ask))
    assert math.isfinite(quote.at) and quote.at >= 0
