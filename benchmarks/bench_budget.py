"""The shared risk budget's cost: a paper session's throughput with ``[state]
shared_risk_budget`` on against off, at the default batch size (1,000), in one process.

    python benchmarks/bench_budget.py [orders=100000] [rounds=5] [--postgres]

Both sides run the same session (the pipeline's risk, gates, a filling executor, with and
without the run log committed per batch) on a fresh store; "on" adds the budget's two write transactions
per batch (reserve before submit, settle after). The two sides alternate round by round in
this one run and the figures are medians. ``--postgres`` also runs both sides on a
throwaway PostgreSQL server (``initdb``/``pg_ctl`` from the machine's packages, psycopg), a
fresh database per session.
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


def open_store(server, folder: str):
    if server is None:
        return StateStore.in_dir(folder)
    from peaktrade_core.store import open_store_url

    return open_store_url(server.create_database(), data_dir=folder)


def session(orders: list[OrderRequest], shared: bool, server, record: bool) -> float:
    with tempfile.TemporaryDirectory() as folder:
        config = PeakTradeConfig(live_risk=LIMITS, state=StateConfig(shared_risk_budget=shared))
        store = open_store(server, folder)
        p = ExecutionPipeline(config, store=store, executor=FillingExecutor(), record=record)
        start = time.perf_counter()
        summary = p.run(orders, strategy="bench")
        elapsed = time.perf_counter() - start
        assert summary.by_status.get("filled") == len(orders), summary.to_dict()
        store.close()
        return elapsed


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    n = int(args[0]) if args else 100_000
    rounds = int(args[1]) if len(args) > 1 else 5
    orders = make_orders(n)
    #: (label, server, run log): the PostgreSQL side without the run log, which is not on
    #: that backend in every version; the SQLite pair without it shows the budget alone
    sides: list = [("sqlite, run log", None, True), ("sqlite, no run log", None, False)]
    if "--postgres" in sys.argv:
        from peaktrade_core.testing.postgres import PostgresServer

        sides.append(("postgresql, no run log", PostgresServer().start(), False))
    rows = [("store", "budget off orders/s", "budget on orders/s", "on / off time", "added per batch of 1,000")]
    try:
        for label, server, record in sides:
            off, on = [], []
            for _ in range(rounds):  # alternated: both sides see the same machine
                off.append(session(orders, False, server, record))
                on.append(session(orders, True, server, record))
            m_off, m_on = statistics.median(off), statistics.median(on)
            added_ms = (m_on - m_off) / (n / 1000) * 1e3
            rows.append((label, f"{n / m_off:,.0f}", f"{n / m_on:,.0f}", f"{m_on / m_off:.2f}x", f"{added_ms:.2f} ms"))
    finally:
        for _, server, _ in sides[2:]:
            server.stop()
    print(f"{n:,} orders, batch 1,000, {rounds} alternated rounds, medians")
    print(table(rows))


if __name__ == "__main__":
    main()
