"""The shared risk budget's cost: a paper session's throughput with ``[state]
shared_risk_budget`` on against off, at the default batch size (1,000), in one process.

    python benchmarks/bench_budget.py [orders=100000] [rounds=5] [--url postgresql://...]

Both sides run the same session (the pipeline's risk, gates, a filling executor, the run
log committed per batch) on a fresh store; "on" adds the budget's two write transactions
per batch (reserve before submit, settle after). The two sides alternate round by round in
this one run and the figures are medians. ``--url`` also runs both sides on that store
(PostgreSQL; needs the state store's PostgreSQL backend).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _util import table  # noqa: E402

from peaktrade_core.config import PeakTradeConfig, StateConfig  # noqa: E402
from peaktrade_core.orders import OrderRequest  # noqa: E402
from peaktrade_core.pipeline import ExecutionPipeline  # noqa: E402
from peaktrade_core.risk import LiveRiskConfig  # noqa: E402
from peaktrade_core.state import StateStore  # noqa: E402
from peaktrade_core.testing import FillingExecutor  # noqa: E402

SYMBOLS = ("BTC/EUR", "ETH/EUR", "SOL/EUR", "XRP/EUR")
PRICES = {"BTC/EUR": 40_000.0, "ETH/EUR": 2_000.0, "SOL/EUR": 100.0, "XRP/EUR": 0.5}
#: every exposure limit set, wide enough that every order passes (the budget checks each)
LIMITS = LiveRiskConfig(
    max_order_notional=1_000.0,
    max_symbol_exposure_notional=1e9,
    max_total_exposure_notional=1e9,
    duplicate_window_seconds=0.0,
    runaway_max_executions=0,
)


def make_orders(n: int) -> list[OrderRequest]:
    orders = []
    for i in range(n):
        symbol = SYMBOLS[i % 4]
        price = PRICES[symbol]
        orders.append(OrderRequest(symbol, "buy" if i % 3 else "sell", round(200.0 / price, 8), reference_price=price, source_ref=str(i)))
    return orders


def open_store(url: str | None, folder: str):
    if url is None:
        return StateStore.in_dir(folder)
    from peaktrade_core.testing.postgres import open_store_url  # the foundation's opener

    return open_store_url(url)


def session(orders: list[OrderRequest], shared: bool, url: str | None) -> float:
    with tempfile.TemporaryDirectory() as folder:
        config = PeakTradeConfig(live_risk=LIMITS, state=StateConfig(shared_risk_budget=shared))
        store = open_store(url, folder)
        p = ExecutionPipeline(config, store=store, executor=FillingExecutor())
        start = time.perf_counter()
        summary = p.run(orders, strategy="bench")
        elapsed = time.perf_counter() - start
        assert summary.by_status.get("filled") == len(orders), summary.to_dict()
        if hasattr(store, "close"):
            store.close()
        return elapsed


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--url")]
    urls: list[str | None] = [None] + [a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith("--url=")]
    n = int(args[0]) if args else 100_000
    rounds = int(args[1]) if len(args) > 1 else 5
    orders = make_orders(n)
    rows = [("store", "budget off orders/s", "budget on orders/s", "on / off time", "per batch added")]
    for url in urls:
        off, on = [], []
        for _ in range(rounds):  # alternated: both sides see the same machine
            off.append(session(orders, False, url))
            on.append(session(orders, True, url))
        m_off, m_on = statistics.median(off), statistics.median(on)
        added_ms = (m_on - m_off) / (n / 1000) * 1e3
        rows.append(("sqlite" if url is None else "postgresql", f"{n / m_off:,.0f}", f"{n / m_on:,.0f}", f"{m_on / m_off:.2f}x", f"{added_ms:.2f} ms"))
    print(f"{n:,} orders, batch 1,000, {rounds} alternated rounds, medians")
    print(table(rows))


if __name__ == "__main__":
    main()
