"""Market data: replaying a recording, handing quotes to the pipeline, polling a ticker.

    python benchmarks/bench_marketdata.py [quotes=100000] [rounds=3]

Medians over the rounds, each figure beside a baseline measured in the same run:

* replay of a recording (CSV, JSONL; checked on open, then read again): quotes/s, against
  ``csv.reader`` / ``json.loads`` over the same file with no checks;
* ``ExecutionPipeline.on_quote`` per quote (last price, risk's reference time, the
  executor's simulated price), against ``update_prices`` with a one-symbol dict;
* an order priced at the last quote (no reference price) through ``process_batch``,
  against the same order carrying its reference price;
* the loopback venue's ticker feed polled back to back over HTTP on 127.0.0.1: quotes/s.
"""

from __future__ import annotations

import csv
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _util import table  # noqa: E402

from peaktrade_core.config import PeakTradeConfig  # noqa: E402
from peaktrade_core.marketdata import Quote, open_recorded_feed, write_recorded_feed  # noqa: E402
from peaktrade_core.orders import OrderRequest  # noqa: E402
from peaktrade_core.pipeline import ExecutionPipeline  # noqa: E402
from peaktrade_core.risk import LiveRiskConfig  # noqa: E402
from peaktrade_core.state import StateStore  # noqa: E402
from peaktrade_core.testing import FillingExecutor  # noqa: E402

LIMITS = LiveRiskConfig(max_orders_per_second=0, max_orders_per_minute=0, duplicate_window_seconds=0, runaway_max_executions=0)


def quotes(n: int) -> list[Quote]:
    symbols = ("BTC/EUR", "ETH/EUR", "SOL/EUR", "XRP/EUR")
    return [Quote(symbols[i % 4], 100.0 + i % 97, 1_767_225_600.0 + i * 0.01, bid=99.5, ask=100.5) for i in range(n)]


def replay(path: Path) -> float:
    start = time.perf_counter()
    count = sum(1 for _ in open_recorded_feed(path))
    return count / (time.perf_counter() - start)


def baseline_read(path: Path) -> float:
    start = time.perf_counter()
    with path.open() as handle:
        if path.suffix == ".csv":
            count = sum(1 for _ in csv.reader(handle)) - 1
        else:
            count = sum(1 for line in handle if json.loads(line))
    return count / (time.perf_counter() - start)


def pipeline() -> ExecutionPipeline:
    return ExecutionPipeline(PeakTradeConfig(live_risk=LIMITS), store=StateStore(":memory:"), executor=FillingExecutor(), record=False)


def on_quote_us(qs: list[Quote]) -> float:
    p = pipeline()
    p.clock = lambda: 2e9
    start = time.perf_counter()
    for q in qs:
        p.on_quote(q)
    return (time.perf_counter() - start) / len(qs) * 1e6


def update_prices_us(qs: list[Quote]) -> float:
    p = pipeline()
    start = time.perf_counter()
    for q in qs:
        p.update_prices({q.symbol: q.price}, at=q.at)
    return (time.perf_counter() - start) / len(qs) * 1e6


def batch_us(priced_by_quote: bool, n: int) -> float:
    p = pipeline()
    p.on_quote(Quote("BTC/EUR", 100.0, time.time()))
    orders = [OrderRequest("BTC/EUR", "buy" if i % 2 else "sell", 0.001, reference_price=None if priced_by_quote else 100.0)
              for i in range(n)]
    start = time.perf_counter()
    for order in orders:
        p.process_batch([order])
    return (time.perf_counter() - start) / n * 1e6


def loopback_quotes_per_second(seconds: float = 2.0) -> float:
    from peaktrade_core.testing.loopback import LoopbackSettings, LoopbackVenue, LoopbackVenuePlugin

    with LoopbackVenue() as venue:
        feed = LoopbackVenuePlugin().open_market_feed("loopback", ["BTC/EUR", "ETH/EUR"],
                                                      LoopbackSettings(base_url=venue.url, feed_interval_seconds=0.0))
        count, start = 0, time.perf_counter()
        for _ in feed:
            count += 1
            if time.perf_counter() - start >= seconds:
                break
        feed.close()
        return count / (time.perf_counter() - start)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    qs = quotes(n)
    figures: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        paths = {fmt: Path(tmp) / f"feed.{fmt}" for fmt in ("csv", "jsonl")}
        for path in paths.values():
            write_recorded_feed(path, qs)
        for _ in range(rounds):
            for fmt, path in paths.items():
                figures.setdefault(f"replay {fmt} (quotes/s)", []).append(replay(path))
                figures.setdefault(f"  baseline: plain read {fmt}", []).append(baseline_read(path))
            figures.setdefault("on_quote (µs/quote)", []).append(on_quote_us(qs[:20_000]))
            figures.setdefault("  baseline: update_prices", []).append(update_prices_us(qs[:20_000]))
            figures.setdefault("order priced at the last quote (µs/batch of 1)", []).append(batch_us(True, 5_000))
            figures.setdefault("  baseline: reference price given", []).append(batch_us(False, 5_000))
            figures.setdefault("loopback ticker feed over HTTP (quotes/s)", []).append(loopback_quotes_per_second())
    rows = [("figure", "median", "rounds")]
    rows += [(name, f"{statistics.median(v):,.1f}", str(len(v))) for name, v in figures.items()]
    print(f"{n} quotes, {rounds} rounds")
    print(table(rows))


if __name__ == "__main__":
    main()
