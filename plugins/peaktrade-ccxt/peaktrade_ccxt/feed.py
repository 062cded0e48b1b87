"""The market-data feed of a ccxt venue: the exchange's public tickers, polled by the core's
``PollingFeed``. Importing this module imports ccxt.

The exchange instance is built without credentials, so ccxt itself refuses any private
call: the feed can sign nothing and place nothing. It reads the production API (``urls``)
in every mode, like the other venue feeds: the prices of the real market.
"""

from __future__ import annotations

import math
import time
from typing import Any

import ccxt
from peaktrade_core.plugin_api import ExchangeError, PollingFeed, Quote, VenueError

from peaktrade_ccxt.client import _new_exchange, _one_line, _override
from peaktrade_ccxt.hooks import PREFIX
from peaktrade_ccxt.settings import CcxtSettings


def open_ticker_feed(venue: str, symbols: list[str], settings: CcxtSettings) -> PollingFeed:
    """A feed of ``symbols`` at ``venue`` (``ccxt:<id>``); raises ``VenueError`` with one
    line when ccxt does not know the exchange or cannot read its tickers. Builds, never
    connects: the first request is the first poll."""
    exchange_id = venue[len(PREFIX) :]
    if exchange_id not in ccxt.exchanges:
        raise VenueError(f"venue {venue!r}: ccxt {ccxt.__version__} knows no exchange {exchange_id!r}")
    exchange = _new_exchange(exchange_id, settings, {})  # no keys: ccxt refuses every private call
    if not (exchange.has.get("fetchTickers") or exchange.has.get("fetchTicker")):
        raise VenueError(f"venue {venue!r}: ccxt cannot read {exchange_id}'s tickers: no market-data feed")
    if settings.urls is not None:
        exchange.urls["api"] = _override(exchange.urls["api"], settings.urls)
    source = TickerSource(venue, exchange)
    return PollingFeed(f"{venue}:ticker", source.quotes, symbols, interval=settings.feed_interval_seconds, on_close=source.close)


class TickerSource:
    """One poll of the public tickers of an exchange, as quotes."""

    def __init__(self, venue: str, exchange: Any):
        self.venue = venue
        self.exchange = exchange

    def quotes(self, symbols: list[str]) -> list[Quote]:
        """The tickers of ``symbols``: in one request where ccxt has ``fetch_tickers``, else
        one ``fetch_ticker`` each. A ccxt error is a failed poll (the feed polls again)."""
        try:
            if self.exchange.has.get("fetchTickers"):
                tickers = self.exchange.fetch_tickers(symbols)
            else:
                tickers = {symbol: self.exchange.fetch_ticker(symbol) for symbol in symbols}
        except ccxt.BaseError as exc:
            raise ExchangeError(f"{self.venue} tickers: {_one_line(exc)}") from None
        received = time.time()
        found = (ticker_quote(symbol, tickers.get(symbol), received) for symbol in symbols)
        return [quote for quote in found if quote is not None]

    def close(self) -> None:
        session = getattr(self.exchange, "session", None)
        if session is not None:
            session.close()


def ticker_quote(symbol: str, ticker: Any, received: float) -> Quote | None:
    """ccxt's unified ticker as a quote: ``last`` is the price (the mid of ``bid`` and ``ask``
    where there is no last trade), ``baseVolume`` the volume, ``timestamp`` the time (when
    the answer arrived where the exchange gives none). ``None``: the ticker has no price."""
    if not isinstance(ticker, dict):
        return None
    bid, ask = _positive(ticker.get("bid")), _positive(ticker.get("ask"))
    price = _positive(ticker.get("last"))
    if price is None and bid is not None and ask is not None:
        price = (bid + ask) / 2
    if price is None:
        return None
    stamp = ticker.get("timestamp")
    at = float(stamp) / 1000.0 if isinstance(stamp, int | float) and math.isfinite(stamp) and stamp > 0 else received
    volume = _number(ticker.get("baseVolume"))
    return Quote(symbol, price, at, bid=bid, ask=ask, volume=volume if volume is not None and volume >= 0 else None)


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _positive(value: Any) -> float | None:
    number = _number(value)
    return number if number is not None and number > 0 else None
