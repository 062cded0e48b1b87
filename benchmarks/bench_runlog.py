"""Run log insert throughput per durability, beside plain sqlite3 baselines, alternated round
by round in one run; medians.

    .venv/bin/python benchmarks/bench_runlog.py [--orders 200000] [--synced 3000] [--rounds 3]

Measures only the run log (result objects are built once, up front):
- baseline batch (like for like): per 1,000 orders, one row holding every order's fields
  as compact JSON, and the run's row updated, in one transaction — the shape the logger
  writes, without the hash chain, counters or batch context;
- baseline per row: ``executemany`` of one narrow row per order, 1,000 per transaction
  (a different layout: one row per order, no JSON);
- logger batch:   ``record_order`` per order + ``record_batch`` + ``commit`` per 1,000;
- logger group:   the same calls with durability "group" (written by the background
  writer; the time includes draining it at the end);
- logger keyed:   durability "batch" with an audit key (every commit signs the head);
- one order per batch (as a strategy calling the pipeline per order): ``record_batch`` +
  ``record_orders`` + ``commit`` per order, durability "group", beside its baseline: per
  10 ms window one row holding every order's fields and batch number as compact JSON, and
  the run's row updated, in one transaction (no chain, no counters, no batch context);
- baseline synced: one row per transaction, ``synchronous=FULL`` (the disk's limit);
- logger order:   durability "order" (every order its own synced transaction).
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _util import synced_insert_seconds  # noqa: E402

from peaktrade_core.orders import OrderExecutionResult, OrderFill, OrderRequest, OrderStatus
from peaktrade_core.runlog import AuditKeys, LiveRunLogger, verify_run
from peaktrade_core.state import StateStore

BATCH = 1000
GATE_REPORT = {"mode": "paper", "effective_mode": "paper", "gates": [{"gate": "mode", "open": False}] * 7}
NO_VIOLATIONS = {"violations": []}  # what the pipeline hands over for a batch no limit refused
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


def _plain(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


def baseline_rows(path: Path, results: list[OrderExecutionResult], n: int) -> float:
    conn = _plain(path)
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


def baseline_batch(path: Path, results: list[OrderExecutionResult], n: int) -> float:
    conn = _plain(path)
    conn.execute("CREATE TABLE records (seq INTEGER PRIMARY KEY, payload TEXT)")
    conn.execute("CREATE TABLE runs (rid INTEGER PRIMARY KEY, head INTEGER)")
    conn.execute("INSERT INTO runs VALUES (1, 0)")
    dumps = json.JSONEncoder(separators=(",", ":")).encode
    start = time.perf_counter()
    for b in range(n // BATCH):
        entries = [
            [r.order.client_order_id, r.order.symbol, r.order.side, r.order.quantity, r.order.price, r.status, r.reasons, [[f.quantity, f.price, f.fee] for f in r.fills]]
            for r in results
        ]
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO records VALUES (?, ?)", (b, dumps(["orders", b, time.time(), b, entries])))
        conn.execute("UPDATE runs SET head = ? WHERE rid = 1", (b,))
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed


def baseline_window(path: Path, results: list[OrderExecutionResult], n: int) -> float:
    conn = _plain(path)
    conn.execute("CREATE TABLE records (seq INTEGER PRIMARY KEY, payload TEXT)")
    conn.execute("CREATE TABLE runs (rid INTEGER PRIMARY KEY, head INTEGER)")
    conn.execute("INSERT INTO runs VALUES (1, 0)")
    dumps = json.JSONEncoder(separators=(",", ":")).encode
    window: list[list[object]] = []
    seq, oldest = 0, None
    start = time.perf_counter()
    for i in range(n):
        r = results[i % len(results)]
        window.append([i, r.order.client_order_id, r.order.symbol, r.order.side, r.order.quantity, r.order.price, r.status, r.reasons, [[f.quantity, f.price, f.fee] for f in r.fills]])
        now = time.monotonic()
        oldest = oldest or now
        if now - oldest >= 0.008 or i == n - 1:
            seq += 1
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO records VALUES (?, ?)", (seq, dumps(["orders", seq, time.time(), window])))
            conn.execute("UPDATE runs SET head = ? WHERE rid = 1", (seq,))
            conn.execute("COMMIT")
            window, oldest = [], None
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed


def logger_one_by_one(store: StateStore, results: list[OrderExecutionResult], n: int) -> float:
    log = LiveRunLogger(store, "group")
    run_id = log.start_run(mode="paper", effective_mode="paper", strategy="bench")
    start = time.perf_counter()
    for i in range(n):
        log.record_batch(run_id, i, GATE_REPORT, NO_VIOLATIONS, executor="paper")
        log.record_orders(run_id, [results[i % len(results)]], i)
        log.commit()
    log.flush()
    elapsed = time.perf_counter() - start
    log.finish_run(run_id, "finished", {"orders": n})
    return elapsed


def logger_run(store: StateStore, durability: str, results: list[OrderExecutionResult], n: int, audit: AuditKeys | None = None) -> tuple[float, str]:
    log = LiveRunLogger(store, durability, audit=audit)
    run_id = log.start_run(mode="paper", effective_mode="paper", strategy="bench")
    record = log.record_order
    start = time.perf_counter()
    for b in range(max(n // BATCH, 1)):
        log.record_batch(run_id, b, GATE_REPORT, RISK, executor="paper")
        for r in results[: min(BATCH, n)]:
            record(run_id, r)
        log.commit()
    log.flush()  # durability "group": until it is on disk
    elapsed = time.perf_counter() - start
    log.finish_run(run_id, "finished", {"orders": n})
    return elapsed, run_id


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=200_000)
    parser.add_argument("--synced", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    n = args.orders // BATCH * BATCH
    results = make_results(BATCH)
    t: dict[str, list[float]] = {k: [] for k in ("rows", "base", "batch", "group", "keyed", "synced_base", "order", "one_base", "one")}
    one = min(n, 50_000)
    audit = AuditKeys.from_texts("bench" * 8)
    verify_s, size, records = [], 0, 0
    for _ in range(args.rounds):
        with tempfile.TemporaryDirectory() as tmp:
            d = Path(tmp)
            t["base"].append(baseline_batch(d / "base.sqlite3", results, n))
            store = StateStore(d / "batch.sqlite3")
            elapsed, run_id = logger_run(store, "batch", results, n)
            t["batch"].append(elapsed)
            t["rows"].append(baseline_rows(d / "rows.sqlite3", results, n))
            t["group"].append(logger_run(StateStore(d / "group.sqlite3"), "group", results, n)[0])
            t["keyed"].append(logger_run(StateStore(d / "keyed.sqlite3"), "batch", results, n, audit)[0])
            t["one_base"].append(baseline_window(d / "one_base.sqlite3", results, one))
            t["one"].append(logger_one_by_one(StateStore(d / "one.sqlite3"), results, one))
            t0 = time.perf_counter()
            verified = verify_run(store, run_id)
            verify_s.append(time.perf_counter() - t0)
            assert verified.ok, verified.problems
            records = verified.records
            t["synced_base"].append(synced_insert_seconds(d / "synced.sqlite3", args.synced))
            t["order"].append(logger_run(StateStore(d / "order.sqlite3"), "order", results, args.synced)[0])
            size = (d / "batch.sqlite3").stat().st_size + (d / "batch.sqlite3-wal").stat().st_size
    m = {k: statistics.median(v) for k, v in t.items()}
    print(f"orders: {n:,} (batch/group durability), {args.synced:,} (order durability); {args.rounds} alternated rounds, medians")
    print(f"baseline: one JSON row per 1,000 : {n / m['base']:>12,.0f} orders/s  {m['base'] / n * 1e6:6.2f} µs/order  (like for like)")
    print(f"run log, durability=batch        : {n / m['batch']:>12,.0f} orders/s  {m['batch'] / n * 1e6:6.2f} µs/order  ({m['batch'] / m['base']:.2f}x the baseline's time)")
    print(f"run log, durability=group        : {n / m['group']:>12,.0f} orders/s  {m['group'] / n * 1e6:6.2f} µs/order  ({m['group'] / m['base']:.2f}x)")
    print(f"run log, batch + audit key       : {n / m['keyed']:>12,.0f} orders/s  {m['keyed'] / n * 1e6:6.2f} µs/order  ({m['keyed'] / m['base']:.2f}x)")
    print(f"baseline: one row per order      : {n / m['rows']:>12,.0f} orders/s  {m['rows'] / n * 1e6:6.2f} µs/order  (other layout: a row per order)")
    print(f"  verify                         : {n / statistics.median(verify_s):>12,.0f} orders/s  ({records} records, db+wal {size / n:.0f} B/order)")
    print(f"one order per batch, {one:,} orders:")
    print(f"baseline: one JSON row per 10 ms : {one / m['one_base']:>12,.0f} orders/s  {m['one_base'] / one * 1e6:6.2f} µs/order  (no chain, counters or context)")
    print(f"run log, durability=group        : {one / m['one']:>12,.0f} orders/s  {m['one'] / one * 1e6:6.2f} µs/order  ({m['one'] / m['one_base']:.2f}x)")
    print(f"baseline synced, 1 row/txn       : {args.synced / m['synced_base']:>12,.0f} rows/s")
    print(f"run log, durability=order        : {args.synced / m['order']:>12,.0f} orders/s  ({m['synced_base'] / m['order']:.2f} of the baseline rate)")


if __name__ == "__main__":
    main()
