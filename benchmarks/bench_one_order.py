"""One order at a time: a Python strategy hands the pipeline one order per call (batch size
1, paper, the run log on), as an event-driven strategy does.

    python benchmarks/bench_one_order.py [orders=20000] [rounds=3] [--before DIR]

Each round runs every durability once, alternated in one process, with ``gc.freeze()``
after start-up (as ``peaktrade session run`` does); medians over the rounds. Per
durability: orders/s and the decision-to-result time per order (p50 / p99), from the
strategy handing over the order to the pipeline reporting it done (risk, gates, paper
fill, accounting, run log and account written as the durability says). What a session
does between batches (with ``group`` the window's write, ~1 ms per ~300 orders; the
kill-switch renewal; due collections) runs after the order is reported: orders/s counts
it, p50/p99 do not.

Baseline in the same run: the same orders through the same pipeline with no run log and
no stored account (``record=False``): the cost of everything but the writing.
``--before DIR``: also run every case on an export of an older ``peaktrade_core`` (``DIR``
put first on ``PYTHONPATH``); then each round runs the current code and the older one in a
fresh process each, alternated, and the table has both.
Needs the peaktrade-paper plugin.
"""

from __future__ import annotations

import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _util import pop_before, table  # noqa: E402

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


def cases_of(n: int) -> tuple[dict[str, str | None], dict[str, int]]:
    cases: dict[str, str | None] = {"no run log, no account (baseline)": None}
    # "group" is what the default ("auto") gives a paper session
    cases.update({f"durability={d}" + (" (the paper default)" if d == "group" else ""): d for d in DURABILITIES})
    return cases, {name: (n if d != "order" else max(n // 20, 100)) for name, d in cases.items()}


def one_round(n: int) -> dict[str, tuple[float, float, float]]:
    """Every case once in this process: ``name -> (orders/s, p50 µs, p99 µs)``."""
    cases, sizes = cases_of(n)
    out = {}
    for name, durability in cases.items():
        elapsed, lat = session(sizes[name], durability)
        lat.sort()
        out[name] = (sizes[name] / elapsed, lat[len(lat) // 2] * 1e6, lat[int(len(lat) * 0.99)] * 1e6)
    return out


def warm_up() -> None:
    session(1000, "batch")  # imports and plugins
    gc.collect()
    gc.freeze()


def main() -> None:
    args = sys.argv[1:]
    before = pop_before(args)
    if "--one-round" in args:  # a child of --before: one round, JSON on stdout
        args.remove("--one-round")
        warm_up()
        print(json.dumps(one_round(int(args[0]))))
        return
    n = int(args[0]) if args else 20_000
    rounds = int(args[1]) if len(args) > 1 else 3
    cases, sizes = cases_of(n)
    versions = {"": None} if before is None else {"": "", ", code from --before": before}
    figures: dict[str, list[tuple[float, float, float]]] = {}
    if before is None:
        warm_up()
    for _ in range(rounds):
        for label, path in versions.items():
            if path is None:
                got = one_round(n)
            else:
                env = {**os.environ, "PYTHONPATH": path} if path else dict(os.environ)
                child = subprocess.run([sys.executable, __file__, str(n), "--one-round"], env=env, capture_output=True, text=True, check=True)
                got = json.loads(child.stdout.splitlines()[-1])
            for name, row in got.items():
                figures.setdefault(name + label, []).append(tuple(row))
    rows = [("case (batch size 1, paper)", "orders", "orders/s", "p50 µs", "p99 µs")]
    for name in cases:
        for label in versions:
            values = figures[name + label]
            rows.append((
                name + label,
                f"{sizes[name]:,}",
                f"{statistics.median(v[0] for v in values):,.0f}",
                f"{statistics.median(v[1] for v in values):.1f}",
                f"{statistics.median(v[2] for v in values):.1f}",
            ))
    print(f"one order per call, {rounds} alternated rounds, medians; Python {sys.version.split()[0]}")
    print(table(rows))


if __name__ == "__main__":
    main()
