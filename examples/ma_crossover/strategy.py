"""Example strategy: a moving-average crossover over the bundled hourly prices.

It only *produces* orders; peaktrade decides what happens to them. Run it with::

    peaktrade session run --example

or from Python::

    from peaktrade_core.config import load_config
    from peaktrade_core.pipeline import ExecutionPipeline
    orders = generate_orders(load_prices(PRICES))
    ExecutionPipeline(load_config()).run(orders, strategy=STRATEGY, strategy_params=PARAMS)
"""

from __future__ import annotations

import csv
from collections import deque
from collections.abc import Iterable, Iterator
from pathlib import Path

from peaktrade_core.orders import OrderRequest

PRICES = Path(__file__).with_name("prices.csv")
STRATEGY = "ma_crossover"
PARAMS = {"fast": 12, "slow": 48, "quantity": {"BTC/EUR": 0.01, "ETH/EUR": 0.2}}


def load_prices(path: Path = PRICES) -> Iterator[tuple[str, str, float]]:
    """``(timestamp, symbol, close)`` rows, in file order."""
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            yield row["timestamp"], row["symbol"], float(row["close"])


def generate_orders(prices: Iterable[tuple[str, str, float]], params: dict = PARAMS) -> Iterator[OrderRequest]:
    """Buy when the fast average crosses above the slow one, sell when it crosses below.

    Each order carries the bar's close as reference price and the bar as its source, so
    its client order id is the same on every re-run (idempotent)."""
    fast_n, slow_n = params["fast"], params["slow"]
    windows: dict[str, deque[float]] = {}
    above: dict[str, bool] = {}
    for timestamp, symbol, close in prices:
        window = windows.setdefault(symbol, deque(maxlen=slow_n))
        window.append(close)
        if len(window) < slow_n:
            continue
        fast = sum(list(window)[-fast_n:]) / fast_n
        slow = sum(window) / slow_n
        now_above = fast > slow
        if symbol in above and now_above != above[symbol]:
            yield OrderRequest(
                symbol=symbol,
                side="buy" if now_above else "sell",
                quantity=params["quantity"][symbol],
                strategy=STRATEGY,
                strategy_params={"fast": fast_n, "slow": slow_n},
                source_ref=f"{symbol}@{timestamp}",
                reference_price=close,
            )
        above[symbol] = now_above
