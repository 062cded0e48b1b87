"""A strategy one order at a time, whole process: `peaktrade session run --strategy
every_quote:EveryQuote --feed FILE` (paper, the default durability) on a generated recorded
feed of N quotes, where the strategy asks for one order on every quote (the busiest an
event-driven strategy can be); alternated round by round with its baseline; medians.

    python benchmarks/bench_strategy_session.py [quotes=100000] [rounds=5] [--before DIR]

Each case is a fresh process; its wall time, CPU time (user + system) and peak RSS
(``wait4``) are quoted as medians. ``--before DIR``: also run both cases with
``PYTHONPATH=DIR`` (an export of an older ``peaktrade_core``: ``git archive REV
peaktrade_core | tar -x -C DIR``), alternated with the rest.

- one order per quote: start-up, checking and replaying the feed, the pipeline's quote
  handling (marks, last quotes), the strategy, its intents made into orders, risk, gates,
  the paper executor, the run log and the account.
- baseline, no orders: the same process, feed and strategy class, asking for nothing (the
  strategy is called on every quote and returns no intent): everything but the orders. The
  difference of the two, divided by the quotes, is what an order costs on this path.
- a strategy stuck on a limit: the same, always buying, so that after the first ~60 fills
  the exposure limits block every order (a failure path: each blocked order is a
  violation recorded and an alert raised).

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

STRATEGY = '''
from peaktrade_core.strategy import OrderIntent


class EveryQuote:
    """One order per quote, quantities distinct (no duplicate orders); ``stuck``: always
    buying, so that the exposure limits soon block every order."""

    def __init__(self, orders: bool = True, stuck: bool = False):
        self.orders, self.stuck = orders, stuck
        self.n = 0

    def on_quote(self, quote):
        self.n += 1
        if not self.orders:
            return None
        # each symbol's side alternates (the symbols do, quote by quote): positions stay small
        side = "buy" if self.stuck or self.n // 2 % 2 else "sell"
        return [OrderIntent(quote.symbol, side, 0.001 + self.n * 1e-9)]
'''


def write_feed(path: Path, quotes: int) -> None:
    """Two symbols in turn, ten quotes a second each (recorded-feed CSV)."""
    with path.open("w") as f:
        f.write("at,symbol,price,bid,ask,volume\n")
        for i in range(quotes):
            symbol, base = ("BTC/EUR", 42_000.0) if i % 2 == 0 else ("ETH/EUR", 2_250.0)
            price = base + (i % 200) * 0.5
            f.write(f"{1767225600.0 + i * 0.05:.2f},{symbol},{price},{price - 0.5},{price + 0.5},1.0\n")


def main() -> None:
    args = sys.argv[1:]
    before = pop_before(args)
    quotes = int(args[0]) if args else 100_000
    rounds = int(args[1]) if len(args) > 1 else 5
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        feed = work / "feed.csv"
        write_feed(feed, quotes)
        (work / "every_quote.py").write_text(STRATEGY)
        config = (ROOT / "config" / "config.toml").read_text()
        (work / "bench.toml").write_text(config.replace("runaway_max_executions = 500", "runaway_max_executions = 1000000000"))
        env = {**os.environ, "PEAK_TRADE_PLUGINS": "paper"}
        env.pop("PEAK_TRADE_CONFIG_PATH", None)
        session = [sys.executable, "-m", "peaktrade_core", "--config", "bench.toml", "session", "run", "--strategy", "every_quote:EveryQuote", "--feed", str(feed)]
        cases = {
            "one order per quote (whole process)": session,
            "baseline: the same, no orders (the strategy asks for nothing)": [*session, "--params", "orders=false"],
            "a strategy stuck on a limit: one order per quote, nearly all blocked by risk": [*session, "--params", "stuck=true"],
        }
        if before is not None:
            cases.update({f"{name}, code from --before": cmd for name, cmd in list(cases.items())})
        times: dict[str, list[float]] = {name: [] for name in cases}
        cpu: dict[str, list[float]] = {name: [] for name in cases}
        rss: dict[str, list[float]] = {name: [] for name in cases}
        for round_no in range(rounds):
            for name, cmd in cases.items():
                env["PEAK_TRADE_DATA_DIR"] = str(work / f"data-{round_no}-{len(times[name])}-{abs(hash(name))}")
                paths = [str(work)] if before is None or not name.endswith("--before") else [before, str(work)]
                seconds, cpu_seconds, peak = timed_process(cmd, {**env, "PYTHONPATH": os.pathsep.join(paths)}, work)
                times[name].append(seconds)
                cpu[name].append(cpu_seconds)
                rss[name].append(peak)
    rows = [("case", "median s", "quotes/s", "CPU s", "µs per quote (CPU)", "peak RSS MiB")]
    for name in cases:
        median, cpu_median = statistics.median(times[name]), statistics.median(cpu[name])
        rows.append((name, f"{median:.2f}", f"{quotes / median:,.0f}", f"{cpu_median:.2f}", f"{cpu_median / quotes * 1e6:.1f}", f"{statistics.median(rss[name]):.0f}"))
    print(f"{quotes:,} quotes, {rounds} alternated rounds; load {load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end (1-minute average)")
    print(table(rows))
    for label in [""] + ([", code from --before"] if before is not None else []):
        orders, idle = f"one order per quote (whole process){label}", f"baseline: the same, no orders (the strategy asks for nothing){label}"
        per_order = statistics.median(a - b for a, b in zip(cpu[orders], cpu[idle], strict=True)) / quotes * 1e6
        print(f"an order on this path{label or ''}: {per_order:.1f} CPU µs (median of the rounds' differences)")


if __name__ == "__main__":
    main()
