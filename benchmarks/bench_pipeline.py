"""The hot path: orders through risk + gates + paper executor + run log.

    python benchmarks/bench_pipeline.py [orders] [per-order-durability orders]

Prints, beside a plain inlined Python baseline doing the same checks and position updates
in the same run: orders/s end to end (run log committed per batch, and per order with
full sync), per-batch cost per order p50/p99, the gate + risk decision per order, and peak
memory. Goals on the reference machine: >= 100,000 orders/s per batch, >= 6,000 orders/s
per order, gate + risk within 5x the inlined baseline. Needs the peaktrade-paper plugin.
"""

from __future__ import annotations

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


def raw_synced_rows(n: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        return n / synced_insert_seconds(Path(tmp) / "raw.sqlite3", n)


def baseline(orders: list[OrderRequest]) -> float:
    """The same checks and position updates, inlined: 6 gates, 4 limits, exposure."""
    mode_live, gate1, gate2, token_ok, dry_run, kill = False, False, False, False, True, False
    positions: dict[str, float] = {}
    exposure: dict[str, float] = {}
    total = 0.0
    start = time.perf_counter()
    for o in orders:
        if kill:
            continue
        _live = mode_live and gate1 and gate2 and token_ok and not dry_run
        price = o.reference_price
        notional = o.quantity * price
        if notional > 1_000.0 or notional < 1.0:
            continue
        signed = o.quantity if o.side == "buy" else -o.quantity
        new_pos = positions.get(o.symbol, 0.0) + signed
        new_exp = abs(new_pos) * price
        if new_exp > 1e9 or total - exposure.get(o.symbol, 0.0) + new_exp > 1e9 or len(positions) > 10:
            continue
        positions[o.symbol] = new_pos
        total += new_exp - exposure.get(o.symbol, 0.0)
        exposure[o.symbol] = new_exp
    return time.perf_counter() - start


def decision_cost(orders: list[OrderRequest]) -> float:
    """Gate + risk decision per order, through the hooks, on 1,000-order batches."""
    with tempfile.TemporaryDirectory() as tmp:
        p = pipeline(tmp, "batch")
        best = float("inf")
        for _ in range(5):
            p.controls = type(p.controls)(LIMITS, p.kill_switch, message_limits=False)
            start = time.perf_counter()
            for i in range(0, len(orders), 1000):
                batch = orders[i : i + 1000]
                from peaktrade_core.gates import evaluate_gates

                p.check_risk(batch)
                p.check_gates(batch, evaluate_gates(p.env, p.kill_switch.state()))
            best = min(best, (time.perf_counter() - start) / len(orders))
        return best


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    n_sync = int(sys.argv[2]) if len(sys.argv) > 2 else 5_000
    os.environ.setdefault("PEAK_TRADE_DATA_DIR", tempfile.mkdtemp())
    os.environ["PEAK_TRADE_PLUGINS"] = "paper"  # the executor only: no example gates
    orders = make_orders(n)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t_base = min(baseline(orders) for _ in range(3))
    t_batch, per_batch = run_session(orders, "batch")
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t_order, _ = run_session(orders[:n_sync], "order")
    raw_rate = raw_synced_rows(n_sync)
    decision = decision_cost(orders[:50_000])
    base_us = t_base / n * 1e6
    per_batch_us = sorted(x * 1e6 for x in per_batch)
    rows = [
        ("measure", "value", "baseline", "ratio"),
        (f"end to end, commit per batch ({n:,} orders)", f"{n / t_batch:,.0f} orders/s", f"{n / t_base:,.0f} orders/s", f"{t_batch / t_base:.1f}x"),
        ("  per order p50 / p99 (per-batch mean)", f"{statistics.median(per_batch_us):.2f} / {per_batch_us[int(len(per_batch_us) * 0.99) - 1]:.2f} µs", f"{base_us:.2f} µs", ""),
        (f"end to end, commit per order, full sync ({n_sync:,})", f"{n_sync / t_order:,.0f} orders/s", f"{raw_rate:,.0f} raw synced rows/s", f"{raw_rate / (n_sync / t_order):.1f}x"),
        ("gate + risk decision per order", f"{decision * 1e6:.2f} µs", f"{base_us:.2f} µs", f"{decision * 1e6 / base_us:.1f}x"),
        ("peak RSS growth during the batch session", f"{(rss_after - rss_before) / 1024:.1f} MiB", "", ""),
    ]
    print(f"pipeline benchmark: risk + gates + paper executor + run log, Python {sys.version.split()[0]}")
    print(table(rows))


if __name__ == "__main__":
    main()
