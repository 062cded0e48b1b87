"""One order at a time: a Python strategy hands the pipeline one order per call (batch size
1, paper, the run log on), as an event-driven strategy does.

    python benchmarks/bench_one_order.py [orders=20000] [rounds=3]

Each round runs every durability once, alternated in one process, with ``gc.freeze()``
after start-up (as ``peaktrade session run`` does); medians over the rounds. Per
durability: orders/s and the decision-to-result time per order (p50 / p99), from the
strategy handing over the order to the pipeline reporting it done (risk, gates, paper
fill, accounting, run log and account written as the durability says).

Baseline in the same run: the same orders through the same pipeline with no run log and
no stored account (``record=False``): the cost of everything but the writing.
Needs the peaktrade-paper plugin.
"""

from __future__ import annotations

import gc
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _util import table  # noqa: E402

os.environ["PEAK_TRADE_PLUGINS"] = "paper"

from peaktrade_core.config import ExecutionConfig, PeakTradeConfig  # noqa: E402
from peaktrade_core.orders import OrderRequest  # noqa: E402
from peaktrade_core.pipeline import ExecutionPipeline  # noqa: E402
from peaktrade_core.risk import LiveRiskConfig  # noqa: E402
from peaktrade_core.runlog import DURABILITIES  # noqa: E402
from peaktrade_core.state import StateStore  # noqa: E402

LIMITS = LiveRiskConfig(max_order_notional=1_000.0, runaway_max_executions=0, duplicate_window_seconds=2.0)


def session(n: int, durability: str | None) -> tuple[float, list[float]]:
    """Seconds for ``n`` orders and the decision-to-result time of each."""
    latencies: list[float] = []
    handed = [0.0]

    def orders():
        clock = time.perf_counter
        for i in range(n):
            order = OrderRequest("BTC/EUR", "buy" if i % 2 else "sell", 0.001 + i * 1e-9, reference_price=40_000.0)
            handed[0] = clock()
            yield order

    def done(_count: int) -> None:
        latencies.append(time.perf_counter() - handed[0])

    with tempfile.TemporaryDirectory() as tmp:
        config = PeakTradeConfig(live_risk=LIMITS, execution=ExecutionConfig(durability=durability or "batch", batch_size=1))
        store = StateStore.in_dir(tmp, synchronous="FULL" if durability == "order" else "NORMAL")
        pipeline = ExecutionPipeline(config, store=store, record=durability is not None)
        start = time.perf_counter()
        summary = pipeline.run(orders(), progress=done)
        elapsed = time.perf_counter() - start
        store.close()
    assert summary.by_status.get("filled") == n, summary.to_dict()
    return elapsed, latencies


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    cases: dict[str, str | None] = {"no run log, no account (baseline)": None}
    cases.update({f"durability={d}": d for d in DURABILITIES})
    sizes = {name: (n if d != "order" else max(n // 20, 100)) for name, d in cases.items()}
    session(1000, "batch")  # warm up imports and plugins
    gc.collect()
    gc.freeze()
    rates: dict[str, list[float]] = {name: [] for name in cases}
    p50: dict[str, list[float]] = {name: [] for name in cases}
    p99: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, durability in cases.items():
            elapsed, lat = session(sizes[name], durability)
            lat.sort()
            rates[name].append(sizes[name] / elapsed)
            p50[name].append(lat[len(lat) // 2] * 1e6)
            p99[name].append(lat[int(len(lat) * 0.99)] * 1e6)
    rows = [("case (batch size 1, paper)", "orders", "orders/s", "p50 µs", "p99 µs")]
    for name in cases:
        rows.append((name, f"{sizes[name]:,}", f"{statistics.median(rates[name]):,.0f}", f"{statistics.median(p50[name]):.1f}", f"{statistics.median(p99[name]):.1f}"))
    print(f"one order per call, {rounds} alternated rounds, medians; Python {sys.version.split()[0]}")
    print(table(rows))


if __name__ == "__main__":
    main()
