"""The hot path: orders through risk + gates + paper executor + run log, in one process.

    python benchmarks/bench_pipeline.py [orders=200000] [per-order-durability orders=3000] [rounds=3]

Every comparison alternates its two sides round by round in this one run and quotes the
median (the disk and the shared machine drift; one-after-the-other runs swung 1.8x-9.8x):

- end to end, run log committed per batch of 1,000, against an inlined baseline that does
  the same per-order work in plain Python: kill-switch check, the 6 mode gates, min/max
  notional, max quantity, symbol/total exposure, open positions, daily loss, duplicate
  client id (a set) and identical order within the window (a dict), the runaway count,
  the paper fill (price, fee), position/cash update, and one SQLite row per batch holding
  every order's outcome as JSON (executemany, one transaction). What the baseline does NOT
  do: plugin hooks (pluggy), fail-closed isolation of each plugin call, hash-chaining the
  log, the summary counters, alerts.
- end to end, durability "order" (every order its own synced transaction) against raw
  synced one-row SQLite transactions (the disk's limit);
- the gate + risk decision alone (hooks, standard limits, controls; nothing executed)
  against the inlined baseline's same checks without the fill, the accounting and the log;
- per order p50 / p99 of the per-batch time; peak memory.

Needs the peaktrade-paper plugin.
"""

from __future__ import annotations

import gc
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _util import synced_insert_seconds, table  # noqa: E402

from peaktrade_core.config import ExecutionConfig, PeakTradeConfig  # noqa: E402
from peaktrade_core.orders import OrderRequest  # noqa: E402
from peaktrade_core.pipeline import ExecutionPipeline  # noqa: E402
from peaktrade_core.risk import LiveRiskConfig  # noqa: E402
from peaktrade_core.state import StateStore  # noqa: E402

SYMBOLS = ("BTC/EUR", "ETH/EUR", "SOL/EUR", "XRP/EUR")
PRICES = {"BTC/EUR": 40_000.0, "ETH/EUR": 2_000.0, "SOL/EUR": 100.0, "XRP/EUR": 0.5}

#: every standard limit and control on, set wide enough that the orders pass
LIMITS = LiveRiskConfig(
    max_order_notional=1_000.0,
    min_order_notional=1.0,
    max_symbol_exposure_notional=1e9,
    max_total_exposure_notional=1e9,
    max_open_positions=10,
    max_daily_loss_abs=1e9,
    max_daily_loss_pct=100.0,
    price_collar_pct=10.0,
    max_order_quantity={"*": 1e6},
    duplicate_window_seconds=2.0,
    runaway_max_executions=100_000_000,
)


def make_orders(n: int) -> list[OrderRequest]:
    orders = []
    for i in range(n):
        symbol = SYMBOLS[i % 4]
        price = PRICES[symbol] * (1 + i * 1e-9)  # distinct: not duplicates
        qty = round(200.0 / price, 8)
        orders.append(OrderRequest(symbol, "buy" if i % 2 else "sell", qty, reference_price=price, source_ref=str(i)))
    return orders


def pipeline(data_dir: str, durability: str) -> ExecutionPipeline:
    config = PeakTradeConfig(live_risk=LIMITS, execution=ExecutionConfig(durability=durability, batch_size=1000))
    return ExecutionPipeline(config, store=StateStore.in_dir(data_dir, synchronous="FULL" if durability == "order" else "NORMAL"))


def run_session(orders: list[OrderRequest], durability: str) -> tuple[float, list[float]]:
    with tempfile.TemporaryDirectory() as tmp:
        p = pipeline(tmp, durability)
        per_batch: list[float] = []
        original = p.process_batch

        def timed(batch, batch_no=0):
            start = time.perf_counter()
            out = original(batch, batch_no)
            per_batch.append((time.perf_counter() - start) / len(batch))
            return out

        p.process_batch = timed  # type: ignore[method-assign]
        start = time.perf_counter()
        summary = p.run(orders, strategy="bench")
        elapsed = time.perf_counter() - start
        assert summary.by_status.get("filled") == len(orders), summary.to_dict()
        return elapsed, per_batch


def baseline(orders: list[OrderRequest], db: Path) -> float:
    """The same per-order work, inlined (see the module docstring for what it leaves out)."""
    import json
    import sqlite3

    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE IF NOT EXISTS log (batch INTEGER, payload TEXT)")
    mode_live, gate1, gate2, token_ok, dry_run, kill = False, False, False, False, True, False
    positions: dict[str, float] = {}
    exposure: dict[str, float] = {}
    seen: set[str] = set()
    recent: dict[tuple, float] = {}
    max_qty = LIMITS.max_order_quantity["*"]
    total = cash = realized = 0.0
    executions = 0
    start = time.perf_counter()
    for b in range(0, len(orders), 1000):
        now = time.time()
        out = []
        for o in orders[b : b + 1000]:
            if kill:
                continue
            _live = mode_live and gate1 and gate2 and token_ok and not dry_run
            price = o.reference_price
            qty = o.quantity
            notional = qty * price
            if notional > 1_000.0 or notional < 1.0 or qty > max_qty or -realized > 1e9:
                out.append((o.client_order_id, "risk_blocked"))
                continue
            key = (o.symbol, o.side, qty, o.order_type, o.limit_price, price)
            last = recent.get(key)
            if o.client_order_id in seen or (last is not None and now - last < 2.0):
                out.append((o.client_order_id, "risk_blocked"))
                continue
            signed = qty if o.side == "buy" else -qty
            new_pos = positions.get(o.symbol, 0.0) + signed
            new_exp = abs(new_pos) * price
            if new_exp > 1e9 or total - exposure.get(o.symbol, 0.0) + new_exp > 1e9 or len(positions) > 10:
                out.append((o.client_order_id, "risk_blocked"))
                continue
            executions += 1
            if executions > LIMITS.runaway_max_executions:
                kill = True
            seen.add(o.client_order_id)
            recent[key] = now
            fee = notional * 0.001
            cash -= signed * price + fee
            positions[o.symbol] = new_pos
            total += new_exp - exposure.get(o.symbol, 0.0)
            exposure[o.symbol] = new_exp
            out.append((o.client_order_id, "filled", qty, price, fee))
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("INSERT INTO log VALUES (?, ?)", [(b, json.dumps(out))])
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed


def decision_cost(orders: list[OrderRequest]) -> float:
    """Gate + risk decision per order, through the hooks, on 1,000-order batches (no
    execution, no accounting, no log): seconds per order, one pass."""
    from peaktrade_core.gates import evaluate_gates

    with tempfile.TemporaryDirectory() as tmp:
        p = pipeline(tmp, "batch")
        p.controls = type(p.controls)(LIMITS, p.kill_switch, message_limits=False)
        start = time.perf_counter()
        for i in range(0, len(orders), 1000):
            batch = orders[i : i + 1000]
            p.check_risk(batch)
            p.check_gates(batch, evaluate_gates(p.env, p.kill_switch.state()))
        return (time.perf_counter() - start) / len(orders)


def decision_baseline(orders: list[OrderRequest]) -> float:
    """The same decision inlined: the baseline's checks above without the fill, the
    accounting and the log (nothing executes, so the positions stay flat)."""
    mode_live, gate1, gate2, token_ok, dry_run, kill = False, False, False, False, True, False
    positions: dict[str, float] = {}
    exposure: dict[str, float] = {}
    seen: set[str] = set()
    recent: dict[tuple, float] = {}
    max_qty = LIMITS.max_order_quantity["*"]
    total = realized = 0.0
    blocked = 0
    start = time.perf_counter()
    for b in range(0, len(orders), 1000):
        now = time.time()
        for o in orders[b : b + 1000]:
            if kill:
                continue
            _live = mode_live and gate1 and gate2 and token_ok and not dry_run
            price = o.reference_price
            qty = o.quantity
            notional = qty * price
            if notional > 1_000.0 or notional < 1.0 or qty > max_qty or -realized > 1e9:
                blocked += 1
                continue
            key = (o.symbol, o.side, qty, o.order_type, o.limit_price, price)
            last = recent.get(key)
            if o.client_order_id in seen or (last is not None and now - last < 2.0):
                blocked += 1
                continue
            signed = qty if o.side == "buy" else -qty
            new_exp = abs(positions.get(o.symbol, 0.0) + signed) * price
            if new_exp > 1e9 or total - exposure.get(o.symbol, 0.0) + new_exp > 1e9 or len(positions) > 10:
                blocked += 1
                continue
            seen.add(o.client_order_id)
            recent[key] = now
    return (time.perf_counter() - start) / len(orders)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    n_sync = int(sys.argv[2]) if len(sys.argv) > 2 else 3_000
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    os.environ.setdefault("PEAK_TRADE_DATA_DIR", tempfile.mkdtemp())
    os.environ["PEAK_TRADE_PLUGINS"] = "paper"  # the executor only: no example gates
    orders = make_orders(n)
    gc.collect()
    gc.freeze()  # as `peaktrade session run` does after start-up
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t_batch, t_base, t_order, t_raw, per_batch, t_decide, t_decide_base = [], [], [], [], [], [], []
    for _ in range(rounds):
        t_decide.append(decision_cost(orders[:50_000]))
        t_decide_base.append(decision_baseline(orders[:50_000]))
        elapsed, batches = run_session(orders, "batch")
        t_batch.append(elapsed)
        per_batch += batches
        with tempfile.TemporaryDirectory() as tmp:
            t_base.append(baseline(orders, Path(tmp) / "base.sqlite3"))
        t_order.append(run_session(orders[:n_sync], "order")[0])
        with tempfile.TemporaryDirectory() as tmp:
            t_raw.append(synced_insert_seconds(Path(tmp) / "raw.sqlite3", n_sync))
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    med = statistics.median
    base_us = med(t_base) / n * 1e6
    per_batch_us = sorted(x * 1e6 for x in per_batch)
    rows = [
        ("measure", "value", "baseline (same run, alternated)", "ratio"),
        (f"end to end, commit per batch ({n:,} orders)", f"{n / med(t_batch):,.0f} orders/s", f"{n / med(t_base):,.0f} orders/s inlined", f"{med(t_batch) / med(t_base):.1f}x the time"),
        ("  per order p50 / p99 (per-batch mean)", f"{statistics.median(per_batch_us):.2f} / {per_batch_us[int(len(per_batch_us) * 0.99) - 1]:.2f} µs", f"{base_us:.2f} µs", ""),
        (f"end to end, commit per order, full sync ({n_sync:,})", f"{n_sync / med(t_order):,.0f} orders/s", f"{n_sync / med(t_raw):,.0f} raw synced rows/s", f"{med(t_raw) / med(t_order):.2f} of the raw rate"),
        (f"gate + risk decision per order ({min(n, 50_000):,})", f"{med(t_decide) * 1e6:.2f} µs", f"{med(t_decide_base) * 1e6:.2f} µs the same checks inlined", f"{med(t_decide) / med(t_decide_base):.1f}x the time"),
        ("peak RSS growth over the rounds", f"{(rss_after - rss_before) / 1024:.1f} MiB", "", ""),
    ]
    print(f"pipeline benchmark: risk + gates + paper executor + run log, {rounds} alternated rounds, medians; Python {sys.version.split()[0]}")
    print(table(rows))


if __name__ == "__main__":
    main()
