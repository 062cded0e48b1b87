"""Kraken's market-data feed: the public Ticker polled through ``open_market_feed``, no key,
nothing private ever called; it stops quoting while Kraken's ticker is down and resumes."""

from __future__ import annotations

import time

import pytest
from peaktrade_kraken.testing import KEY_ENV, SECRET_ENV, loopback_settings

from peaktrade_core.plugin_api import PeakTradeConfig, Quote, get_plugin_manager, open_feed

WAIT = 60.0


@pytest.fixture
def feed(kraken, monkeypatch):
    monkeypatch.delenv(KEY_ENV)  # public data needs no key
    monkeypatch.delenv(SECRET_ENV)
    config = PeakTradeConfig(plugins={"kraken": loopback_settings(kraken.url, feed_interval_seconds=0.01)})
    feed = open_feed(config, get_plugin_manager(), source="kraken", symbols=["BTC/EUR", "ETH/EUR"])
    yield feed
    feed.close()


def next_where(feed, predicate) -> Quote:
    while True:
        quote = feed.next_quote(timeout=WAIT)
        assert quote is not None, feed.error or "no quote within the wait"
        if predicate(quote):
            return quote


def test_the_ticker_is_quoted_as_kraken_documents_it(kraken, feed):
    kraken.set_price("BTC/EUR", 43_210.5, spread=1.0)
    quote = next_where(feed, lambda q: q.symbol == "BTC/EUR" and q.price == 43_210.5)
    assert (quote.bid, quote.ask, quote.volume) == (43_210.0, 43_211.0, 25.0)
    assert next_where(feed, lambda q: q.symbol == "ETH/EUR").price == 2_500.0
    private = [r["path"] for r in kraken.received if "/private/" in r["path"]]
    assert private == [] and kraken.orders() == []


def test_quotes_stop_while_the_ticker_is_down_and_resume_when_it_answers(kraken, feed):
    next_where(feed, lambda q: True)
    kraken.ticker_down = True
    before = kraken.by_endpoint["Ticker"]
    assert kraken.wait_for(lambda: kraken.by_endpoint["Ticker"] >= before + 3)  # it keeps polling
    while feed.next_quote(timeout=0.05) is not None:  # drain the quotes polled before
        pass
    kraken.wait_for(lambda: kraken.by_endpoint["Ticker"] >= before + 6)
    assert feed.next_quote(timeout=0.05) is None and not feed.ended and feed.error is None
    kraken.set_price("BTC/EUR", 44_000.0)
    kraken.ticker_down = False
    assert next_where(feed, lambda q: q.price == 44_000.0).symbol == "BTC/EUR"


def test_an_unknown_symbol_is_a_failed_poll_not_a_crash(kraken):
    config = PeakTradeConfig(plugins={"kraken": loopback_settings(kraken.url, feed_interval_seconds=0.01)})
    feed = open_feed(config, get_plugin_manager(), source="kraken", symbols=["DOGE/EUR"])
    try:
        deadline = time.monotonic() + WAIT
        while feed.inner.failures < 2 and time.monotonic() < deadline:  # polled, failed, polled again
            assert feed.next_quote(timeout=0.05) is None
        assert "unknown symbol 'DOGE/EUR'" in feed.inner.last_error
        assert not feed.ended and feed.error is None
    finally:
        feed.close()
