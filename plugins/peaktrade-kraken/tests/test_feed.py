"""Kraken's market-data feed: the public Ticker polled through ``open_market_feed``, no key,
nothing private ever called; it stops quoting while Kraken's ticker is down and resumes."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from peaktrade_kraken.testing import KEY_ENV, SECRET_ENV, loopback_settings

from peaktrade_core.plugin_api import (
    PeakTradeConfig,
    get_plugin_manager,
    open_feed,
    open_recorded_feed,
)
from peaktrade_core.testing import next_quote_where

WAIT = 60.0


@pytest.fixture
def feed(kraken, monkeypatch):
    monkeypatch.delenv(KEY_ENV)  # public data needs no key
    monkeypatch.delenv(SECRET_ENV)
    config = PeakTradeConfig(plugins={"kraken": loopback_settings(kraken.url, feed_interval_seconds=0.01)})
    feed = open_feed(config, get_plugin_manager(), source="kraken", symbols=["BTC/EUR", "ETH/EUR"])
    yield feed
    feed.close()


def test_the_ticker_is_quoted_as_kraken_documents_it(kraken, feed):
    kraken.set_price("BTC/EUR", 43_210.5, spread=1.0)
    quote = next_quote_where(feed, lambda q: q.symbol == "BTC/EUR" and q.price == 43_210.5)
    assert (quote.bid, quote.ask, quote.volume) == (43_210.0, 43_211.0, 25.0)
    assert next_quote_where(feed, lambda q: q.symbol == "ETH/EUR").price == 2_500.0
    private = [r["path"] for r in kraken.received if "/private/" in r["path"]]
    assert private == [] and kraken.orders() == []


def test_quotes_stop_while_the_ticker_is_down_and_resume_when_it_answers(kraken, feed):
    next_quote_where(feed, lambda q: True)
    kraken.ticker_down = True
    before = kraken.by_endpoint["Ticker"]
    assert kraken.wait_for(lambda: kraken.by_endpoint["Ticker"] >= before + 3)  # it keeps polling
    while feed.next_quote(timeout=0.05) is not None:  # drain the quotes polled before
        pass
    kraken.wait_for(lambda: kraken.by_endpoint["Ticker"] >= before + 6)
    assert feed.next_quote(timeout=0.05) is None and not feed.ended and feed.error is None
    kraken.set_price("BTC/EUR", 44_000.0)
    kraken.ticker_down = False
    assert next_quote_where(feed, lambda q: q.price == 44_000.0).symbol == "BTC/EUR"


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


def _peaktrade(tmp_path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "peaktrade_core", "--config", "config.toml", *args],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)


def test_recorded_with_the_cli_and_replayed_quote_for_quote(kraken, tmp_path):
    (tmp_path / "config.toml").write_text(f'[plugins.kraken]\nbase_url = "{kraken.url}"\nfeed_interval_seconds = 0.01\n')
    kraken.set_price("BTC/EUR", 43_000.5, spread=1.0)

    done = _peaktrade(tmp_path, "feed", "record", "--source", "kraken", "--symbols", "BTC/EUR,ETH/EUR",
                      "--output", "rec.jsonl", "--count", "6")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "recorded 6 quote(s) of BTC/EUR, ETH/EUR from kraken to rec.jsonl (count reached)"
    replayed = list(open_recorded_feed(tmp_path / "rec.jsonl"))
    assert len(replayed) == 6
    assert {(q.symbol, q.price, q.bid, q.ask, q.volume) for q in replayed} == {
        ("BTC/EUR", 43_000.5, 43_000.0, 43_001.0, 25.0), ("ETH/EUR", 2_500.0, 2_500.0, 2_500.0, 25.0)}
    assert [q.at for q in replayed] == sorted(q.at for q in replayed)

    shown = _peaktrade(tmp_path, "feed", "show", "rec.jsonl", "--json")
    assert shown.returncode == 0, shown.stderr
    summary = json.loads(shown.stdout)
    assert summary["quotes"] == 6 and set(summary["symbols"]) == {"BTC/EUR", "ETH/EUR"}
    assert summary["symbols"]["BTC/EUR"]["last_price"] == 43_000.5


def test_recording_a_silent_feed_stops_at_its_duration_and_bad_sources_are_one_line(kraken, tmp_path):
    (tmp_path / "config.toml").write_text(f'[plugins.kraken]\nbase_url = "{kraken.url}"\nfeed_interval_seconds = 0.01\n')
    kraken.ticker_down = True
    done = _peaktrade(tmp_path, "feed", "record", "--source", "kraken", "--symbols", "BTC/EUR", "--output", "rec.csv",
                      "--duration", "0.5")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "recorded 0 quote(s) of BTC/EUR from kraken to rec.csv (duration reached)"
    assert (tmp_path / "rec.csv").read_text() == "at,symbol,price,bid,ask,volume\n"

    refused = _peaktrade(tmp_path, "feed", "record", "--source", "krakn", "--symbols", "BTC/EUR", "--output", "x.csv", "--count", "1")
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines() == [
        "market-data source 'krakn': not a recorded file (.csv, .jsonl) and no installed plugin serves this venue (did you mean 'kraken'? installed venues: kraken)"
    ]
    assert not (tmp_path / "x.csv").exists()  # refused before anything was written
