"""Binance's market-data feed: the public book ticker polled through ``open_market_feed``,
unsigned, no key; quotes stop while the tickers are down and resume when they answer."""

from __future__ import annotations

import pytest
from peaktrade_binance.settings import BinanceSettings
from peaktrade_binance.testing import LoopbackBinance

from peaktrade_core.plugin_api import PeakTradeConfig, get_plugin_manager, open_feed
from peaktrade_core.testing import next_quote_where, wait_until


@pytest.fixture
def binance():
    with LoopbackBinance() as fake:
        yield fake


@pytest.fixture
def feed(binance):
    settings = BinanceSettings(base_url=binance.url, feed_interval_seconds=0.01)
    feed = open_feed(PeakTradeConfig(plugins={"binance": settings}), get_plugin_manager(), source="binance",
                     symbols=["BTC/EUR", "ETH/EUR"])
    yield feed
    feed.close()


def test_the_book_ticker_is_quoted_at_its_mid(binance, feed):
    binance.set_price("BTCEUR", "43210.5", spread="1")
    quote = next_quote_where(feed, lambda q: q.symbol == "BTC/EUR" and q.price == 43_210.5)
    assert (quote.bid, quote.ask) == (43_210.0, 43_211.0)
    next_quote_where(feed, lambda q: q.symbol == "ETH/EUR")
    tickers = [c for c in binance.calls if c["path"] == "/api/v3/ticker/bookTicker"]
    assert tickers and tickers[0]["params"] == {"symbols": '["BTCEUR","ETHEUR"]'}
    assert all(c["signature_valid"] is None for c in binance.calls)  # nothing signed
    assert binance.orders() == []


def test_quotes_stop_while_the_tickers_are_down_and_resume(binance, feed):
    next_quote_where(feed, lambda q: True)
    binance.market_data_down = True
    failed_polls = lambda: sum(c["status"] == 503 for c in binance.calls)  # noqa: E731
    wait_until(lambda: failed_polls() >= 1)  # polls fail now: the quotes of earlier ones are queued
    while feed.next_quote(timeout=0.05) is not None:  # the quotes polled before the outage
        pass
    seen = failed_polls()
    wait_until(lambda: failed_polls() >= seen + 2)  # two more polls failed, none quoted
    assert feed.next_quote(timeout=0.05) is None and not feed.ended and feed.error is None
    binance.set_price("BTCEUR", "44000")
    binance.market_data_down = False
    assert next_quote_where(feed, lambda q: q.symbol == "BTC/EUR" and q.price == 44_000.0)


def test_the_fake_answers_book_tickers_as_binance_documents_them(binance):
    import json
    import urllib.error
    import urllib.request

    def get(query):
        try:
            with urllib.request.urlopen(f"{binance.url}/api/v3/ticker/bookTicker?{query}", timeout=30) as answer:
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    binance.set_price("BTCEUR", "40000", spread="2")
    assert get("symbol=BTCEUR") == (200, {"symbol": "BTCEUR", "bidPrice": "39999.00000000", "bidQty": "1.00000000",
                                          "askPrice": "40001.00000000", "askQty": "1.00000000"})
    assert get("symbols=%5B%22NOPE%22%5D") == (400, {"code": -1121, "msg": "Invalid symbol."})
    binance.market_data_down = True
    assert get("symbol=BTCEUR")[0] == 503
