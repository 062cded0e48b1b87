"""Orders files, whole process: `peaktrade session run --orders FILE` (paper) on a generated
CSV of N distinct orders, alternated round by round with two baselines; medians.

    python benchmarks/bench_orderfile.py [rows=1000000] [rounds=3] [--before DIR]

Each case is a fresh process; its wall time, its CPU time (user + system: on a shared,
loaded machine the steadier figure) and its peak RSS (``wait4``) are quoted as medians. ``--before DIR``: also run the session with ``PYTHONPATH=DIR``, an export of an
older ``peaktrade_core`` (``git archive REV peaktrade_core | tar -x -C DIR``), alternated
with the rest: before and after in one run.

- session run: the whole process — start-up, reading + validating the file once, risk,
  gates, the paper executor, the run log. The runaway throttle is raised (a config written
  next to the file) so every order is executed rather than blocked by the kill switch.
- read once: `load_orders` + building every `OrderRequest`, in a fresh process (what the
  session does before and while handing orders to the pipeline; no pipeline).
- constructor: `csv.reader` + the public `OrderRequest` constructor on the raw fields, in
  a fresh process: only the constructor's own checks (no refusal of "1_000", "nan", non-ASCII
  digits ..., no line numbers in errors, no sha256), no pipeline. The file's rows, validated
  once, are built without re-running those checks, so this is not a floor for "read once".

Needs the paper plugin installed (`python3 dev.py demo` sets that up).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _util import pop_before, table, timed_process  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

READ_ONCE = """
import sys
from peaktrade_core.orderfile import load_orders
for order in load_orders(sys.argv[1]):
    pass
"""

FLOOR = """
import csv, sys
from peaktrade_core.orders import OrderRequest
with open(sys.argv[1], newline="") as f:
    rows = csv.reader(f)
    next(rows)
    for n, (symbol, side, quantity, reference) in enumerate(rows, 2):
        OrderRequest(symbol=symbol, side=side, quantity=float(quantity), reference_price=float(reference), source_ref=f"orders.csv:{n}")
"""


def write_orders(path: Path, rows: int) -> None:
    with path.open("w") as f:
        f.write("symbol,side,quantity,reference_price\n")
        for i in range(rows):  # distinct quantities: nothing is a duplicate order
            f.write(f"BTC/EUR,{'buy' if i % 2 == 0 else 'sell'},{0.001 + i * 1e-9:.9f},40000\n")


def main() -> None:
    args = sys.argv[1:]
    before = pop_before(args)
    rows = int(args[0]) if args else 1_000_000
    rounds = int(args[1]) if len(args) > 1 else 3
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        orders = work / "orders.csv"
        write_orders(orders, rows)
        config = (ROOT / "config" / "config.toml").read_text()
        (work / "bench.toml").write_text(config.replace("runaway_max_executions = 500", "runaway_max_executions = 1000000000"))
        env = {**os.environ, "PEAK_TRADE_PLUGINS": "paper"}
        env.pop("PEAK_TRADE_CONFIG_PATH", None)
        session = [sys.executable, "-m", "peaktrade_core", "--config", "bench.toml", "session", "run", "--orders", str(orders)]
        cases = {
            "peaktrade session run --orders (whole process)": session,
            "read once: load_orders + build OrderRequests": [sys.executable, "-c", READ_ONCE, str(orders)],
            "csv.reader + the public OrderRequest constructor (its checks only)": [sys.executable, "-c", FLOOR, str(orders)],
        }
        if before is not None:
            cases["the same session, code from --before"] = session
        times: dict[str, list[float]] = {name: [] for name in cases}
        rss: dict[str, list[float]] = {name: [] for name in cases}
        cpu: dict[str, list[float]] = {name: [] for name in cases}
        for round_no in range(rounds):
            for name, cmd in cases.items():
                env["PEAK_TRADE_DATA_DIR"] = str(work / f"data-{round_no}-{len(times[name])}-{hash(name)}")
                run_env = {**env, "PYTHONPATH": before} if name.endswith("--before") else env
                seconds, cpu_seconds, peak = timed_process(cmd, run_env, work)
                times[name].append(seconds)
                cpu[name].append(cpu_seconds)
                rss[name].append(peak)
    table_rows = [("case", "median s", "orders/s", "min s", "CPU s", "orders/CPU s", "peak RSS MiB")]
    for name, ts in times.items():
        median, cpu_median = statistics.median(ts), statistics.median(cpu[name])
        table_rows.append(
            (name, f"{median:.2f}", f"{rows / median:,.0f}", f"{min(ts):.2f}", f"{cpu_median:.2f}", f"{rows / cpu_median:,.0f}", f"{statistics.median(rss[name]):.0f}")
        )
    print(f"{rows:,} orders, {rounds} alternated rounds; load {load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end (1-minute average)")
    print(table(table_rows))
    if before is not None:  # the ratio within each round, then the median of those
        session, old = next(iter(cases)), "the same session, code from --before"
        wall = statistics.median(a / b for a, b in zip(times[session], times[old], strict=True))
        used = statistics.median(a / b for a, b in zip(cpu[session], cpu[old], strict=True))
        print(f"session / before, median of the rounds' ratios: wall {wall:.3f}, CPU {used:.3f}")


if __name__ == "__main__":
    main()
