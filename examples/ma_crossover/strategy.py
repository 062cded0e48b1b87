"""Example strategy: a moving-average crossover, on the strategy interface.

It only *asks* for orders; peaktrade decides what happens to them. Run it on the bundled
recorded feed (hourly closes of BTC/EUR and ETH/EUR)::

    peaktrade session run --strategy examples/ma_crossover/strategy.py:MovingAverageCrossover \\
        --feed examples/ma_crossover/feed.csv --params fast=12 --params slow=48

or the same prices as one orders stream (``peaktrade session run --example``), or from
Python::

    from peaktrade_core.config import load_config
    from peaktrade_core.pipeline import ExecutionPipeline
    orders = generate_orders(load_prices(PRICES))
    ExecutionPipeline(load_config()).run(orders, strategy=STRATEGY, strategy_params=PARAMS)
"""

from __future__ import annotations

import csv
from collections import deque
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from peaktrade_core.orders import OrderRequest
from peaktrade_core.strategy import OrderIntent

PRICES = Path(__file__).with_name("prices.csv")
FEED = Path(__file__).with_name("feed.csv")
STRATEGY = "ma_crossover"
PARAMS = {"fast": 12, "slow": 48, "quantity": {"BTC/EUR": 0.01, "ETH/EUR": 0.2}}


class MovingAverageCrossover:
    """Buy when the fast average of a symbol's prices crosses above the slow one, sell when
    it crosses below; a fixed quantity per symbol (symbols without one are not traded)."""

    name = STRATEGY

    def __init__(self, fast: int = PARAMS["fast"], slow: int = PARAMS["slow"], quantity: dict[str, float] | None = None):
        if not 1 <= fast < slow:
            raise ValueError(f"need 1 <= fast < slow, got fast={fast} slow={slow}")
        self.fast, self.slow = fast, slow
        self.quantity = dict(PARAMS["quantity"] if quantity is None else quantity)
        self.symbols = tuple(self.quantity)  # what a venue feed is asked to quote
        self.windows: dict[str, deque[float]] = {}
        self.above: dict[str, bool] = {}

    def on_quote(self, quote: Any) -> list[OrderIntent]:
        symbol = quote.symbol
        window = self.windows.setdefault(symbol, deque(maxlen=self.slow))
        window.append(quote.price)
        if len(window) < self.slow or symbol not in self.quantity:
            return []
        fast = sum(list(window)[-self.fast :]) / self.fast
        slow = sum(window) / self.slow
        now_above = fast > slow
        crossed = symbol in self.above and now_above != self.above[symbol]
        self.above[symbol] = now_above
        if not crossed:
            return []
        # the bar as source: its client order id is the same on every re-run (idempotent)
        at = datetime.fromtimestamp(quote.at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        side = "buy" if now_above else "sell"
        return [OrderIntent(symbol, side, self.quantity[symbol], reference_price=quote.price, source_ref=f"{symbol}@{at}")]


def load_prices(path: Path = PRICES) -> Iterator[tuple[str, str, float]]:
    """``(timestamp, symbol, close)`` rows, in file order."""
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            yield row["timestamp"], row["symbol"], float(row["close"])


class _Bar:
    """A close as the strategy sees a quote (``symbol``, ``price``, ``at``)."""

    __slots__ = ("symbol", "price", "at")

    def __init__(self, symbol: str, price: float, at: float):
        self.symbol, self.price, self.at = symbol, price, at


def generate_orders(prices: Iterable[tuple[str, str, float]], params: dict = PARAMS) -> Iterator[OrderRequest]:
    """The strategy's orders over ``prices`` as one stream (``session run --example``).

    Each order carries the bar's close as reference price and the bar as its source, so
    its client order id is the same on every re-run (idempotent)."""
    strategy = MovingAverageCrossover(params["fast"], params["slow"], params["quantity"])
    recorded = {"fast": strategy.fast, "slow": strategy.slow}
    for timestamp, symbol, close in prices:
        at = datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()
        for intent in strategy.on_quote(_Bar(symbol, close, at)):
            yield OrderRequest(
                symbol=intent.symbol,
                side=intent.side,
                quantity=intent.quantity,
                strategy=STRATEGY,
                strategy_params=recorded,
                source_ref=f"{symbol}@{timestamp}",
                reference_price=intent.reference_price,
            )
