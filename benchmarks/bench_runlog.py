"""Run log insert throughput per durability, beside plain sqlite3 baselines in the same run.

    .venv/bin/python benchmarks/bench_runlog.py [--orders 200000] [--synced 3000]

Measures only the run log (result objects are built once, up front):
- baseline batch: sqlite3 ``executemany`` of one narrow row per order, 1,000 per transaction;
- logger batch:   ``record_order`` per order + ``record_batch`` + ``commit`` per 1,000;
- baseline synced: one row per transaction, ``synchronous=FULL`` (the disk's limit);
- logger order:   durability "order" (every order its own synced transaction).
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _util import synced_insert_seconds  # noqa: E402

from peaktrade_core.orders import OrderExecutionResult, OrderFill, OrderRequest, OrderStatus
from peaktrade_core.runlog import LiveRunLogger, verify_run
from peaktrade_core.state import StateStore

BATCH = 1000
GATE_REPORT = {"mode": "paper", "effective_mode": "paper", "gates": [{"gate": "mode", "open": False}] * 7}
RISK = {"allowed": True, "violations": [], "limits": {"max_order_notional": 10_000.0, "max_total_exposure_notional": 1e6}}


def make_results(n: int) -> list[OrderExecutionResult]:
    out = []
    for i in range(n):
        order = OrderRequest("BTC/EUR", "buy" if i % 2 else "sell", 0.01 + i * 1e-6, reference_price=65_000.5, source_ref=f"bar {i}")
        if i % 10 == 0:
            out.append(OrderExecutionResult(order, OrderStatus.RISK_BLOCKED, reasons=["max_order_notional: 650.0 > 500.0"]))
        else:
            fill = OrderFill(order.client_order_id, order.symbol, order.side, order.quantity, 65_001.25, 0.65)
            out.append(OrderExecutionResult(order, OrderStatus.FILLED, fills=[fill]))
    return out


def baseline_batch(path: Path, results: list[OrderExecutionResult], n: int) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE plain (seq INTEGER PRIMARY KEY, coid TEXT, symbol TEXT, side TEXT, qty REAL, price REAL, status TEXT)")
    start = time.perf_counter()
    for b in range(n // BATCH):
        rows = [
            (b * BATCH + i, r.order.client_order_id, r.order.symbol, r.order.side, r.order.quantity, r.order.price, r.status)
            for i, r in enumerate(results)
        ]
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("INSERT INTO plain VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed


def logger_run(store: StateStore, durability: str, results: list[OrderExecutionResult], n: int) -> tuple[float, str]:
    log = LiveRunLogger(store, durability)
    run_id = log.start_run(mode="paper", effective_mode="paper", strategy="bench")
    record = log.record_order
    start = time.perf_counter()
    for b in range(max(n // BATCH, 1)):
        log.record_batch(run_id, b, GATE_REPORT, RISK, executor="paper")
        for r in results[: min(BATCH, n)]:
            record(run_id, r)
        log.commit()
    elapsed = time.perf_counter() - start
    log.finish_run(run_id, "finished", {"orders": n})
    return elapsed, run_id


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=200_000)
    parser.add_argument("--synced", type=int, default=3000)
    args = parser.parse_args()
    n = args.orders // BATCH * BATCH
    results = make_results(BATCH)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        base = baseline_batch(d / "base.sqlite3", results, n)
        store = StateStore(d / "batch.sqlite3")
        batch, run_id = logger_run(store, "batch", results, n)
        t0 = time.perf_counter()
        verified = verify_run(store, run_id)
        verify_s = time.perf_counter() - t0
        assert verified.ok, verified.problems
        synced_base = synced_insert_seconds(d / "synced.sqlite3", args.synced)
        synced_store = StateStore(d / "order.sqlite3")
        synced, _ = logger_run(synced_store, "order", results, args.synced)
        size = (d / "batch.sqlite3").stat().st_size + (d / "batch.sqlite3-wal").stat().st_size

    print(f"orders: {n:,} (batch durability), {args.synced:,} (order durability)")
    print(f"baseline executemany, 1000/txn : {n / base:>12,.0f} orders/s  {base / n * 1e6:6.2f} µs/order")
    print(f"run log, durability=batch      : {n / batch:>12,.0f} orders/s  {batch / n * 1e6:6.2f} µs/order  ({batch / base:.2f}x baseline)")
    print(f"  verify                       : {n / verify_s:>12,.0f} orders/s  ({verified.records} records, db+wal {size / n:.0f} B/order)")
    print(f"baseline synced, 1 row/txn     : {args.synced / synced_base:>12,.0f} rows/s")
    print(f"run log, durability=order      : {args.synced / synced:>12,.0f} orders/s  ({synced_base / synced:.2f} of baseline rate)")


if __name__ == "__main__":
    main()
